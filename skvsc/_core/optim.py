"""The optimizer: Adam (Kingma and Ba, 2015) without ``torch.optim``.

torch's own Adam costs every process a fixed 1.5-2.4 s before the first step:
its ``add_param_group`` is wrapped in ``torch._disable_dynamo``, which imports
``torch._dynamo`` on first use. That is a tenth of a small fit (the digits) and
is paid again in every ``GridSearchCV`` worker. :class:`Adam` computes the
same update with the same kernels: torch's fused one (``torch._fused_adam_``,
one kernel for all parameters) where the device has it, else the elementwise
update of ``torch.optim.Adam(foreach=False)``. Its ``state_dict`` has torch's
layout, so states saved from either optimizer load into the other (tests
check both, and the update against torch's).
"""

import functools

import torch

#: The fields of a torch Adam parameter group that this Adam does not use,
#: with the values that mean "off" (written into its ``state_dict``).
_TORCH_GROUP_FIELDS = {
    "weight_decay": 0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "decoupled_weight_decay": False,
}

#: Of those, the fields that change the update: a state saved with one of them
#: on is refused. The others (``foreach``, ``capturable``, ``differentiable``)
#: choose how torch computes the same update.
_UPDATE_FIELDS = ("weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")


class Adam:
    """Adam over a list of parameters: one parameter group, no weight decay.

    ``m_t = beta1 m + (1 - beta1) g``, ``v_t = beta2 v + (1 - beta2) g^2``,
    ``theta -= lr (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)``.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        The parameters, all on one device.
    lr : float
        Learning rate; ``param_groups[0]["lr"]`` may be changed between steps.
    betas : (float, float), default=(0.9, 0.999)
    eps : float, default=1e-8

    Attributes
    ----------
    param_groups : list of one dict
        ``params``, ``lr``, ``betas``, ``eps`` and ``fused`` (True when the
        update runs as torch's fused kernel), as in ``torch.optim``.
    state : dict
        Per parameter: ``step`` (a float32 scalar tensor), ``exp_avg`` and
        ``exp_avg_sq``, created by the first step.
    """

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        params = list(params)
        if not params:
            raise ValueError("Adam got no parameters.")
        self.param_groups = [
            {
                "params": params,
                "lr": lr,
                "betas": tuple(betas),
                "eps": eps,
                "fused": _fused_kernel_runs_on(params),
            }
        ]
        self.state = {}

    @torch.no_grad()
    def step(self):
        """One update of every parameter that has a gradient."""
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        states = [self.state_of(p) for p in params]
        steps = [s["step"] for s in states]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        grads = [p.grad for p in params]
        torch._foreach_add_(steps, 1)
        self.update(params, grads, exp_avgs, exp_avg_sqs, steps)

    @torch.no_grad()
    def update(self, params, grads, exp_avgs, exp_avg_sqs, steps):
        """The update of :meth:`step` applied to the given tensors: parameters
        (or views of parts of them), their gradients and moments (or the same
        parts), and their step counts, already counting this step. The update
        is element-wise, so updating the parts of a parameter one by one gives
        the update of the whole (what a data-parallel fit that splits the
        update between processes relies on)."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        if group["fused"] and self._fused_step(params, grads, exp_avgs, exp_avg_sqs, steps):
            return
        for param, grad, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
            _adam_update(param, grad, m, v, step.item(), group["lr"], beta1, beta2, group["eps"])

    def state_of(self, param):
        """The state of ``param`` (created, zero, when it has none yet)."""
        return self.state.get(param) or self._init_state(param)

    def _fused_step(self, params, grads, exp_avgs, exp_avg_sqs, steps):
        """The update as torch's fused kernel; False (and the plain update from
        now on) if the private op fails: a torch release that changes it costs
        speed, not the fit (a call refused for its arguments writes nothing)."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        try:
            torch._fused_adam_(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
        except Exception:
            group["fused"] = False
            return False
        return True

    def zero_grad(self, set_to_none=True):
        """Drop the gradients (``set_to_none=False``: zero them in place)."""
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    def _init_state(self, param):
        # As torch: the step count is a float32 scalar on the parameter's device
        # (the fused kernel reads it there), the moments zeros like the parameter.
        state = {
            "step": torch.zeros((), dtype=torch.float32, device=param.device),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
        }
        self.state[param] = state
        return state

    def state_dict(self):
        """torch's Adam layout: ``state`` by parameter index, one ``param_groups`` entry."""
        group = self.param_groups[0]
        index = {p: i for i, p in enumerate(group["params"])}
        saved_group = {key: value for key, value in group.items() if key != "params"}
        saved_group.update(_TORCH_GROUP_FIELDS)
        saved_group["fused"] = group["fused"] or None
        saved_group["params"] = list(range(len(group["params"])))
        return {
            "state": {index[p]: dict(s) for p, s in self.state.items()},
            "param_groups": [saved_group],
        }

    def load_state_dict(self, state_dict):
        """Load a state of this class or of ``torch.optim.Adam`` (copied, cast to
        each parameter's device and dtype; the step count stays float32)."""
        groups = state_dict["param_groups"]
        params = self.param_groups[0]["params"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(params):
            raise ValueError(
                f"the optimizer state has {sum(len(g['params']) for g in groups)} "
                f"parameters in {len(groups)} groups, not {len(params)} in one"
            )
        group = groups[0]
        for field in _UPDATE_FIELDS:
            off = _TORCH_GROUP_FIELDS[field]
            if group.get(field, off) not in (off, None):
                raise ValueError(f"the optimizer state uses {field}={group[field]!r}")
        self.param_groups[0].update(lr=group["lr"], betas=tuple(group["betas"]), eps=group["eps"])
        self.state = {}
        for i, saved in state_dict["state"].items():
            param = params[int(i)]
            self.state[param] = {
                "step": torch.as_tensor(saved["step"], dtype=torch.float32)
                .to(param.device)
                .clone(),
                "exp_avg": saved["exp_avg"].to(param.device, param.dtype, copy=True),
                "exp_avg_sq": saved["exp_avg_sq"].to(param.device, param.dtype, copy=True),
            }


def _adam_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps):
    """One parameter's update, as ``torch.optim.Adam(foreach=False)`` computes it."""
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad.conj(), value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-(lr / bias_correction1))


def _fused_kernel_runs_on(params):
    """Whether torch's fused Adam kernel takes these parameters (floating point,
    one dtype, one CPU or CUDA device, and a torch that has the kernel there)."""
    first = params[0]
    if any(p.device != first.device or p.dtype != first.dtype for p in params):
        return False
    return first.is_floating_point() and _fused_kernel_exists(first.device, first.dtype)


@functools.cache
def _fused_kernel_exists(device, dtype):
    """Whether ``torch._fused_adam_`` runs on ``device`` in ``dtype``: tried once
    on a one-element tensor (older torch has the kernel for CUDA only)."""
    if not hasattr(torch, "_fused_adam_") or device.type not in ("cpu", "cuda"):
        return False
    one = torch.zeros(1, dtype=dtype, device=device)
    try:
        torch._fused_adam_(
            [one.clone()],
            [one.clone()],
            [one.clone()],
            [one.clone()],
            [],
            [torch.ones((), dtype=torch.float32, device=device)],
            amsgrad=False,
            lr=1e-3,
            beta1=0.9,
            beta2=0.999,
            weight_decay=0.0,
            eps=1e-8,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )
    except Exception:  # any failure of the private op (a changed signature too)
        return False
    return True


def make_optimizer(params, lr):
    """The training loop's optimizer: :class:`Adam` over ``params``."""
    return Adam(params, lr)
