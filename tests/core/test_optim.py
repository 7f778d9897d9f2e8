"""The optimizer: our Adam against torch's, its saved state, and what it does not import."""

import copy
import itertools
import subprocess
import sys

import pytest
import torch

from skvsc._core.optim import (
    _TORCH_GROUP_FIELDS,
    Adam,
    _fused_kernel_exists,
    _fused_kernel_runs_on,
    make_optimizer,
)
from skvsc._core.shared_update import ALIGN, part_bounds
from tests.core.helpers import fused_adam_on_cpu, needs_fused_adam_on_cpu

#: torch's Adam on the path ours takes on this CPU: the fused kernel (the same
#: update bit for bit) where torch has it there, else the plain loop (the same
#: sums, another rounding: compared to 1e-6).
FUSED = fused_adam_on_cpu()


def _torch_adam(params, lr):
    if FUSED:
        return torch.optim.Adam(params, lr=lr, fused=True)
    return torch.optim.Adam(params, lr=lr, foreach=False)


def _assert_same_update(a, b):
    if FUSED:
        assert torch.equal(a, b)
    else:
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 5), (7,), (3, 7), (3,)]
    return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]


def _run(optimizer, params, steps, skip=None):
    """``steps`` updates with fixed pseudo-random gradients; ``skip = (step, i)``
    leaves parameter ``i`` without a gradient at that step; the learning rate
    is halved after step 4 (both optimizers read ``param_groups``)."""
    for step in steps:
        optimizer.zero_grad(set_to_none=True)
        g = torch.Generator().manual_seed(100 + step)
        for i, p in enumerate(params):
            grad = torch.randn(p.shape, generator=g)
            if skip != (step, i):
                p.grad = grad
        if step == 4:
            optimizer.param_groups[0]["lr"] /= 2
        optimizer.step()


@needs_fused_adam_on_cpu
@pytest.mark.parametrize("skip", [None, (3, 1)])
def test_fused_update_is_torch_fused_adam_bit_for_bit(skip):
    ours, theirs = _params(), _params()
    adam = Adam(ours, lr=1e-2)
    assert adam.param_groups[0]["fused"]  # the CPU has the kernel (torch >= 2.4)
    reference = torch.optim.Adam(theirs, lr=1e-2, fused=True)
    _run(adam, ours, range(8), skip)
    _run(reference, theirs, range(8), skip)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(adam.state[a][key], reference.state[b][key])


def test_unfused_update_is_torch_adam():
    ours, theirs = _params(), _params()
    adam = Adam(ours, lr=1e-2)
    adam.param_groups[0]["fused"] = False  # the path of devices without the kernel
    reference = torch.optim.Adam(theirs, lr=1e-2, foreach=False)
    _run(adam, ours, range(8), (3, 1))
    _run(reference, theirs, range(8), (3, 1))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fused", [True, False])
def test_updating_aligned_parts_of_the_flattened_parameters_is_the_whole_step(fused):
    # What a data-parallel fit that splits the update between processes does:
    # each part updated on its own, cut inside parameters at multiples of
    # ALIGN elements from their start (the rule of part_bounds), bit for bit.
    g = torch.Generator().manual_seed(0)
    shapes = [(70, 5), (70,), (3, 70), (3,)]
    whole = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    parts = [torch.nn.Parameter(p.detach().clone()) for p in whole]
    sizes = [p.numel() for p in parts]
    bounds = part_bounds(sizes, 3)
    starts = [0, *torch.tensor(sizes).cumsum(0).tolist()]
    assert any(b not in starts for b in bounds)  # some cuts fall inside a parameter
    adam, split = Adam(whole, lr=1e-2), Adam(parts, lr=1e-2)
    adam.param_groups[0]["fused"] = split.param_groups[0]["fused"] = fused
    for step in range(5):
        g = torch.Generator().manual_seed(100 + step)
        for a, b in zip(whole, parts):
            a.grad = torch.randn(a.shape, generator=g)
            b.grad = a.grad.clone()
        adam.step()
        states = [split.state_of(p) for p in parts]
        torch._foreach_add_([s["step"] for s in states], 1)
        for lo, hi in itertools.pairwise(bounds):
            chosen = ([], [], [], [], [])
            for i, p in enumerate(parts):
                a, b = max(lo, starts[i]) - starts[i], min(hi, starts[i + 1]) - starts[i]
                if a < b:
                    views = [p.data.view(-1), p.grad.view(-1)]
                    views += [states[i]["exp_avg"].view(-1), states[i]["exp_avg_sq"].view(-1)]
                    for k, view in enumerate(views):
                        chosen[k].append(view[a:b])
                    chosen[4].append(states[i]["step"])
            split.update(*chosen)
    for a, b in zip(whole, parts):
        assert torch.equal(a, b)
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(adam.state[a][key], split.state[b][key])


@pytest.mark.parametrize("n_parts", [1, 2, 3, 8])
def test_part_bounds_cover_the_parameters_in_near_equal_aligned_parts(n_parts):
    sizes = [313600, 400, 240000, 600, 80000, 400, 313600, 784]
    bounds = part_bounds(sizes, n_parts)
    starts = [0, *torch.tensor(sizes).cumsum(0).tolist()]
    assert bounds[0] == 0 and bounds[-1] == sum(sizes) and len(bounds) == n_parts + 1
    lengths = [hi - lo for lo, hi in itertools.pairwise(bounds)]
    assert max(lengths) - min(lengths) <= n_parts * ALIGN
    for cut in bounds:
        start = max(s for s in starts if s <= cut)
        assert (cut - start) % ALIGN == 0 or cut in starts


def _broken_fused_adam(*args, **kwargs):
    raise TypeError("_fused_adam_() got an unexpected keyword argument 'amsgrad'")


@pytest.fixture
def broken_fused_op(monkeypatch):
    """torch._fused_adam_ as a future torch might change it: every call fails."""
    monkeypatch.setattr(torch, "_fused_adam_", _broken_fused_adam)
    _fused_kernel_exists.cache_clear()
    yield
    _fused_kernel_exists.cache_clear()


def test_a_failing_probe_of_the_fused_op_falls_back_to_the_plain_update(broken_fused_op):
    ours, plain = _params(), _params()
    adam = Adam(ours, lr=1e-2)
    assert adam.param_groups[0]["fused"] is False
    reference = Adam(plain, lr=1e-2)
    reference.param_groups[0]["fused"] = False
    _run(adam, ours, range(6))
    _run(reference, plain, range(6))
    assert all(torch.equal(a, b) for a, b in zip(ours, plain))


@needs_fused_adam_on_cpu
def test_a_fused_step_that_fails_falls_back_to_the_plain_update(monkeypatch):
    ours, plain = _params(), _params()
    adam = Adam(ours, lr=1e-2)
    assert adam.param_groups[0]["fused"] is True  # probed before the op broke
    monkeypatch.setattr(torch, "_fused_adam_", _broken_fused_adam)
    reference = Adam(plain, lr=1e-2)
    reference.param_groups[0]["fused"] = False
    _run(adam, ours, range(6))
    _run(reference, plain, range(6))
    assert adam.param_groups[0]["fused"] is False  # not tried again
    assert all(torch.equal(a, b) for a, b in zip(ours, plain))


def test_a_wrong_update_would_be_caught():
    # The comparisons above can fail: one step at another learning rate shows.
    ours, theirs = _params(), _params()
    adam, reference = Adam(ours, lr=1e-2), _torch_adam(theirs, lr=1.1e-2)
    _run(adam, ours, range(2))
    _run(reference, theirs, range(2))
    with pytest.raises(AssertionError):
        _assert_same_update(ours[0], theirs[0])


@pytest.mark.parametrize("direction", ["ours to torch", "torch to ours"])
def test_saved_states_move_between_our_adam_and_torchs(direction):
    first_params, second_params, reference_params = _params(), _params(), _params()
    make_ours = lambda p: Adam(p, lr=1e-2)  # noqa: E731
    make_torch = lambda p: _torch_adam(p, lr=1e-2)  # noqa: E731
    make_first, make_second = (
        (make_ours, make_torch) if direction == "ours to torch" else (make_torch, make_ours)
    )
    first, reference = make_first(first_params), make_torch(reference_params)
    _run(first, first_params, range(3))
    _run(reference, reference_params, range(3))
    with torch.no_grad():
        for a, b in zip(second_params, first_params):
            a.copy_(b)
    second = make_second(second_params)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    _run(second, second_params, range(3, 6))
    _run(reference, reference_params, range(3, 6))
    for a, b in zip(second_params, reference_params):
        _assert_same_update(a, b)


@pytest.mark.parametrize("foreach", [False, True])
def test_a_state_of_torchs_adam_computed_another_way_loads(foreach):
    # foreach chooses how torch computes the same update.
    params = _params()
    reference = torch.optim.Adam(params, lr=1e-2, foreach=foreach)
    _run(reference, params, range(2))
    adam = Adam(_params(), lr=1e-3)
    adam.load_state_dict(reference.state_dict())
    assert adam.param_groups[0]["lr"] == 1e-2
    for ours, theirs in zip(adam.param_groups[0]["params"], params):
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(adam.state[ours][key], reference.state[theirs][key])


@pytest.mark.parametrize("option", [{"amsgrad": True}, {"maximize": True}, {"weight_decay": 0.1}])
def test_a_state_of_another_update_is_refused(option):
    params = _params()
    reference = torch.optim.Adam(params, lr=1e-2, **option)
    _run(reference, params, range(2))
    adam = Adam(_params(), lr=1e-3)
    with pytest.raises(ValueError, match=f"uses {next(iter(option))}="):
        adam.load_state_dict(reference.state_dict())
    assert adam.state == {} and adam.param_groups[0]["lr"] == 1e-3  # unchanged


def test_state_dict_has_torchs_layout_and_loading_copies():
    params = _params()
    adam = Adam(params, lr=1e-2)
    _run(adam, params, range(2))
    state = adam.state_dict()
    (group,) = state["param_groups"]
    (torchs,) = torch.optim.Adam(_params(), lr=1e-2, fused=FUSED or None).state_dict()[
        "param_groups"
    ]
    assert {key: group[key] for key in torchs} == torchs
    # Fields beyond this torch's are those of a newer torch's layout (older ones ignore them).
    assert set(group) - set(torchs) <= set(_TORCH_GROUP_FIELDS)
    assert set(state["state"]) == {0, 1, 2, 3}
    other = Adam(_params(), lr=1e-3)
    other.load_state_dict(state)
    first = other.state[other.param_groups[0]["params"][0]]
    assert first["exp_avg"] is not state["state"][0]["exp_avg"]
    assert torch.equal(first["exp_avg"], state["state"][0]["exp_avg"])
    assert other.param_groups[0]["lr"] == 1e-2


def test_load_state_dict_takes_every_group_setting_and_owns_its_moments():
    params = _params()
    adam = Adam(params, lr=1e-2, betas=(0.5, 0.6), eps=1e-3)
    _run(adam, params, range(2))
    state = adam.state_dict()
    # Into float64 parameters: the moments take the parameters' dtype, the step stays float32.
    other_params = [torch.nn.Parameter(p.detach().double()) for p in _params()]
    other = Adam(other_params, lr=1e-3)
    other.load_state_dict(state)
    group = other.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (1e-2, (0.5, 0.6), 1e-3)
    for i, p in enumerate(other_params):
        moments = other.state[p]
        assert moments["exp_avg"].dtype == moments["exp_avg_sq"].dtype == torch.float64
        assert moments["step"].dtype == torch.float32 and moments["step"].item() == 2
        torch.testing.assert_close(moments["exp_avg_sq"].float(), state["state"][i]["exp_avg_sq"])
    # Training on does not write into the state it was loaded from.
    saved = {i: {k: v.clone() for k, v in m.items()} for i, m in state["state"].items()}
    same_params = _params()
    same = Adam(same_params, lr=1e-3)
    same.load_state_dict(state)
    _run(same, same_params, range(2, 4))
    for i, moments in state["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, saved[i][key]), (i, key)


def test_load_state_dict_refuses_what_it_cannot_apply():
    params = _params()
    torch_adam = torch.optim.Adam(params, lr=1e-2, weight_decay=0.1)
    _run(torch_adam, params, range(1))
    with pytest.raises(ValueError, match="weight_decay"):
        Adam(_params(), lr=1e-2).load_state_dict(torch_adam.state_dict())
    with pytest.raises(ValueError, match="4 parameters"):
        Adam(_params()[:2], lr=1e-2).load_state_dict(Adam(_params(), lr=1e-2).state_dict())
    with pytest.raises(ValueError, match="^Adam got no parameters"):
        Adam([], lr=1e-2)


def test_a_state_with_integer_steps_loads_with_float32_steps():
    # torch before 1.12 saved each step as a Python int; the fused kernel and the
    # plain update both take a float32 step tensor.
    params = _params()
    adam = Adam(params, lr=1e-2)
    _run(adam, params, range(3))
    state = adam.state_dict()
    for moments in state["state"].values():
        moments["step"] = int(moments["step"].item())
    other_params = _params()
    other = Adam(other_params, lr=1e-2)
    other.load_state_dict(state)
    for p in other_params:
        step = other.state[p]["step"]
        assert step.dtype == torch.float32 and step.item() == 3
    _run(other, other_params, range(3, 4))  # and training goes on
    assert all(other.state[p]["step"].item() == 4 for p in other_params)


def test_the_fused_kernel_takes_only_parameters_of_one_float_dtype_and_device():
    floats = [torch.zeros(2), torch.zeros(3)]
    mixed = [torch.zeros(2), torch.zeros(3, dtype=torch.float64)]
    assert _fused_kernel_runs_on(floats) == _fused_kernel_exists(torch.device("cpu"), torch.float32)
    assert not _fused_kernel_runs_on(mixed)
    assert not _fused_kernel_runs_on(mixed[::-1])
    assert not _fused_kernel_runs_on([torch.zeros(2, dtype=torch.int64)])


@pytest.mark.parametrize("set_to_none", [False, True])
def test_zero_grad(set_to_none):
    # A parameter without a gradient (the first one here: a unit the batch left
    # out) is skipped, not the end of the loop.
    params = _params()
    adam = Adam(params, lr=1e-2)
    for p in params[1:]:
        p.grad = torch.ones_like(p)
    adam.zero_grad(set_to_none=set_to_none)
    assert params[0].grad is None
    for p in params[1:]:
        assert p.grad is None if set_to_none else torch.equal(p.grad, torch.zeros_like(p))
    for p in params[1:]:
        p.grad = torch.ones_like(p)
    adam.zero_grad()  # torch's default: set to None
    assert all(p.grad is None for p in params)


def test_make_optimizer_is_our_adam():
    assert isinstance(make_optimizer(_params(), 1e-3), Adam)


def test_a_fit_does_not_import_torch_dynamo():
    # torch.optim's optimizers import torch._dynamo on first use (seconds per
    # process); a fit must not.
    code = (
        "import sys, numpy as np\n"
        "from skvsc import VariationalSparseCoder\n"
        "X = np.random.default_rng(0).random((64, 6))\n"
        "VariationalSparseCoder(n_components=3, hidden_layer_sizes=(8,), max_iter=2,\n"
        "                       random_state=0).fit(X).transform(X)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
