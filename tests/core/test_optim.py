"""The optimizer: our Adam against torch's, its saved state, and what it does not import."""

import copy
import subprocess
import sys

import pytest
import torch

from skvsc._core.optim import Adam, _fused_kernel_exists, make_optimizer


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
    adam, reference = Adam(ours, lr=1e-2), torch.optim.Adam(theirs, lr=1.1e-2, fused=True)
    _run(adam, ours, range(2))
    _run(reference, theirs, range(2))
    assert not torch.equal(ours[0], theirs[0])


@pytest.mark.parametrize("direction", ["ours to torch", "torch to ours"])
def test_saved_states_move_between_our_adam_and_torchs(direction):
    first_params, second_params, reference_params = _params(), _params(), _params()
    make_ours = lambda p: Adam(p, lr=1e-2)  # noqa: E731
    make_torch = lambda p: torch.optim.Adam(p, lr=1e-2, fused=True)  # noqa: E731
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
        assert torch.equal(a, b)


def test_state_dict_has_torchs_layout_and_loading_copies():
    params = _params()
    adam = Adam(params, lr=1e-2)
    _run(adam, params, range(2))
    state = adam.state_dict()
    assert (
        state["param_groups"]
        == torch.optim.Adam(_params(), lr=1e-2, fused=True).state_dict()["param_groups"]
    )
    assert set(state["state"]) == {0, 1, 2, 3}
    other = Adam(_params(), lr=1e-3)
    other.load_state_dict(state)
    first = other.state[other.param_groups[0]["params"][0]]
    assert first["exp_avg"] is not state["state"][0]["exp_avg"]
    assert torch.equal(first["exp_avg"], state["state"][0]["exp_avg"])
    assert other.param_groups[0]["lr"] == 1e-2


def test_load_state_dict_refuses_what_it_cannot_apply():
    params = _params()
    torch_adam = torch.optim.Adam(params, lr=1e-2, weight_decay=0.1)
    _run(torch_adam, params, range(1))
    with pytest.raises(ValueError, match="weight_decay"):
        Adam(_params(), lr=1e-2).load_state_dict(torch_adam.state_dict())
    with pytest.raises(ValueError, match="4 parameters"):
        Adam(_params()[:2], lr=1e-2).load_state_dict(Adam(_params(), lr=1e-2).state_dict())
    with pytest.raises(ValueError, match="no parameters"):
        Adam([], lr=1e-2)


def test_zero_grad():
    params = _params()
    adam = Adam(params, lr=1e-2)
    for p in params:
        p.grad = torch.ones_like(p)
    adam.zero_grad(set_to_none=False)
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in params)
    adam.zero_grad()
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
