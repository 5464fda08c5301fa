"""ts.optim: updates against NumPy re-implementations of PyTorch's update
equations, state_dict layout, and learning-rate schedules against closed forms."""
import math

import numpy as np
import pytest

import tessel as ts
from tessel import nn, optim
from tessel.optim import lr_scheduler as sched


def npy(t):
    return np.array(t.detach().tolist(), dtype=np.float64)


# ----- NumPy references (torch/optim/{sgd,adam,rmsprop}.py, single-tensor code paths) ----

class RefSGD:
    def __init__(self, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
        self.h = dict(lr=lr, momentum=momentum, dampening=dampening, wd=weight_decay, nesterov=nesterov,
                      maximize=maximize)
        self.buf = {}

    def step(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        if h["wd"]:
            g = g + h["wd"] * p
        if h["momentum"]:
            if i not in self.buf:
                self.buf[i] = g.copy()
            else:
                self.buf[i] = h["momentum"] * self.buf[i] + (1 - h["dampening"]) * g
            g = g + h["momentum"] * self.buf[i] if h["nesterov"] else self.buf[i]
        return p - h["lr"] * g


class RefAdam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
                 decoupled=False):
        self.h = dict(lr=lr, b1=betas[0], b2=betas[1], eps=eps, wd=weight_decay, amsgrad=amsgrad, maximize=maximize,
                      decoupled=decoupled)
        self.m, self.v, self.vmax, self.t = {}, {}, {}, {}

    def step(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        if h["wd"]:
            if h["decoupled"]:
                p = p * (1 - h["lr"] * h["wd"])
            else:
                g = g + h["wd"] * p
        self.t[i] = t = self.t.get(i, 0) + 1
        m = self.m[i] = h["b1"] * self.m.get(i, 0) + (1 - h["b1"]) * g
        v = self.v[i] = h["b2"] * self.v.get(i, 0) + (1 - h["b2"]) * g * g
        if h["amsgrad"]:
            v = self.vmax[i] = np.maximum(self.vmax.get(i, 0), v)
        bc1, bc2 = 1 - h["b1"] ** t, 1 - h["b2"] ** t
        return p - h["lr"] / bc1 * m / (np.sqrt(v) / math.sqrt(bc2) + h["eps"])


class RefRMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, maximize=False):
        self.h = dict(lr=lr, alpha=alpha, eps=eps, wd=weight_decay, momentum=momentum, centered=centered,
                      maximize=maximize)
        self.sq, self.ga, self.buf = {}, {}, {}

    def step(self, i, p, g):
        h = self.h
        g = -g if h["maximize"] else g
        if h["wd"]:
            g = g + h["wd"] * p
        sq = self.sq[i] = h["alpha"] * self.sq.get(i, 0) + (1 - h["alpha"]) * g * g
        if h["centered"]:
            ga = self.ga[i] = h["alpha"] * self.ga.get(i, 0) + (1 - h["alpha"]) * g
            avg = np.sqrt(sq - ga * ga) + h["eps"]
        else:
            avg = np.sqrt(sq) + h["eps"]
        if h["momentum"] > 0:
            buf = self.buf[i] = h["momentum"] * self.buf.get(i, 0) + g / avg
            return p - h["lr"] * buf
        return p - h["lr"] * g / avg


CASES = [
    (optim.SGD, RefSGD, dict(lr=0.1)),
    (optim.SGD, RefSGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, RefSGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, RefSGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    (optim.Adam, RefAdam, dict(lr=0.01)),
    (optim.Adam, RefAdam, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
    (optim.Adam, RefAdam, dict(lr=0.01, amsgrad=True, maximize=True)),
    (optim.AdamW, lambda **k: RefAdam(decoupled=True, **k), dict(lr=0.01, weight_decay=0.1)),
    (optim.AdamW, lambda **k: RefAdam(decoupled=True, weight_decay=0.01, **k), dict(lr=0.01, amsgrad=True)),
    (optim.RMSprop, RefRMSprop, dict(lr=0.01)),
    (optim.RMSprop, RefRMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.05)),
    (optim.RMSprop, RefRMSprop, dict(lr=0.01, alpha=0.9, centered=True, maximize=True)),
]


def make_params(rng, shapes, dtype):
    return [nn.Parameter(ts.tensor(rng.standard_normal(s), dtype=dtype)) for s in shapes]


@pytest.mark.parametrize("opt_cls, ref_cls, kwargs", CASES)
@pytest.mark.parametrize("dtype", [ts.float64, ts.float32])
def test_updates_match_numpy(opt_cls, ref_cls, kwargs, dtype):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    params = make_params(rng, shapes, dtype)
    ref_params = [npy(p) for p in params]
    opt = opt_cls(params, **kwargs)
    ref = ref_cls(**kwargs)
    for _ in range(5):
        grads = [rng.standard_normal(s) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = ts.tensor(g, dtype=dtype)
        opt.step()
        ref_params = [ref.step(i, p, g) for i, (p, g) in enumerate(zip(ref_params, grads))]
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == ts.float64 else dict(rtol=2e-5, atol=1e-6)
    for p, r in zip(params, ref_params):
        assert p.dtype == dtype
        np.testing.assert_allclose(npy(p), r, **tol)


@pytest.mark.parametrize("opt_cls, ref_cls, kwargs", [CASES[2], CASES[6], CASES[10]])
def test_params_without_grad_are_skipped_and_keep_their_own_step_count(opt_cls, ref_cls, kwargs):
    rng = np.random.default_rng(1)
    shapes = [(3,), (2, 2), (5,)]
    params = make_params(rng, shapes, ts.float64)
    ref_params = [npy(p) for p in params]
    opt = opt_cls(params, **kwargs)
    ref = ref_cls(**kwargs)
    # which params have a gradient at each step: param 1 misses steps 1 and 3, so its
    # step count (Adam's bias correction) falls two behind and its state starts late
    pattern = [(0, 2), (0, 1, 2), (0, 2), (1,), (0, 1, 2)]
    for k, with_grad in enumerate(pattern):
        for i, p in enumerate(params):
            if i in with_grad:
                g = rng.standard_normal(shapes[i])
                p.grad = ts.tensor(g)
                ref_params[i] = ref.step(i, ref_params[i], g)
            else:
                p.grad = None
        opt.step()
        if k == 0:
            assert params[1] not in opt.state or not opt.state[params[1]]
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(npy(p), r, rtol=1e-10, atol=1e-12)
    if isinstance(opt, (optim.Adam, optim.RMSprop)):
        state = opt.state_dict()["state"]
        assert [float(state[i]["step"]) for i in range(3)] == [4.0, 3.0, 4.0]


def test_mixed_dtypes_in_one_group():
    rng = np.random.default_rng(2)
    params = make_params(rng, [(3,)], ts.float32) + make_params(rng, [(2,)], ts.float64)
    ref_params = [npy(p) for p in params]
    opt = optim.Adam(params, lr=0.1)
    ref = RefAdam(lr=0.1)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape) for p in params]
        for p, g in zip(params, grads):
            p.grad = ts.tensor(g, dtype=p.dtype)
        opt.step()
        ref_params = [ref.step(i, p, g) for i, (p, g) in enumerate(zip(ref_params, grads))]
    np.testing.assert_allclose(npy(params[0]), ref_params[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(npy(params[1]), ref_params[1], rtol=1e-12)
    assert opt.state[params[0]]["exp_avg"].dtype == ts.float32
    assert opt.state[params[1]]["exp_avg"].dtype == ts.float64


def test_param_groups_lr_changes_and_add_param_group():
    a = nn.Parameter(ts.zeros(2, dtype=ts.float64))
    b = nn.Parameter(ts.zeros(2, dtype=ts.float64))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 1.0
    assert opt.param_groups[1]["momentum"] == 0.0 and opt.defaults["lr"] == 0.1
    for p in (a, b):
        p.grad = ts.ones(2, dtype=ts.float64)
    opt.step()
    assert npy(a).tolist() == [-0.1, -0.1] and npy(b).tolist() == [-1.0, -1.0]
    opt.param_groups[0]["lr"] = 0.5  # what schedulers do: read at every step
    opt.step()
    assert npy(a).tolist() == [-0.6, -0.6]
    c = nn.Parameter(ts.zeros(1, dtype=ts.float64))
    opt.add_param_group({"params": c, "lr": 2.0})
    c.grad = ts.ones(1, dtype=ts.float64)
    opt.step()
    assert npy(c).tolist() == [-2.0]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="duplicate"):
        optim.SGD([a, a], lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        optim.SGD([{"params": {a, b}}], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])


def test_zero_grad():
    p = nn.Parameter(ts.zeros(2))
    opt = optim.SGD([p], lr=0.1)
    p.grad = ts.ones(2)
    opt.zero_grad(set_to_none=False)
    assert npy(p.grad).tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_argument_validation():
    p = [nn.Parameter(ts.zeros(1))]
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="epsilon"):
        optim.AdamW(p, eps=-1)
    with pytest.raises(ValueError, match="alpha"):
        optim.RMSprop(p, alpha=-0.1)
    assert optim.AdamW(p).defaults["weight_decay"] == 0.01
    assert optim.Adam(p).defaults["weight_decay"] == 0
    assert optim.SGD(p).defaults["lr"] == 1e-3 and optim.RMSprop(p).defaults["lr"] == 1e-2


def run(opt, params, grads_per_step):
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = ts.tensor(g, dtype=ts.float64)
        opt.step()


@pytest.mark.parametrize("opt_cls, kwargs", [(optim.SGD, dict(lr=0.1, momentum=0.9)),
                                             (optim.Adam, dict(lr=0.1, amsgrad=True)),
                                             (optim.RMSprop, dict(lr=0.1, momentum=0.5, centered=True))])
def test_state_dict_roundtrip(opt_cls, kwargs):
    rng = np.random.default_rng(3)
    grads = [[rng.standard_normal(3), rng.standard_normal((2, 2))] for _ in range(6)]
    a = make_params(np.random.default_rng(4), [(3,), (2, 2)], ts.float64)
    b = make_params(np.random.default_rng(4), [(3,), (2, 2)], ts.float64)
    opt_a, opt_b = opt_cls(a, **kwargs), opt_cls(b, **kwargs)
    run(opt_a, a, grads[:3])
    sd = opt_a.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert sd["param_groups"][0]["lr"] == 0.1
    assert sorted(sd["state"]) == [0, 1]
    names = {optim.SGD: ["momentum_buffer"], optim.Adam: ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"],
             optim.RMSprop: ["grad_avg", "momentum_buffer", "square_avg", "step"]}[opt_cls]
    assert sorted(sd["state"][0]) == names
    if "step" in names:
        assert isinstance(sd["state"][1]["step"], ts.Tensor) and float(sd["state"][1]["step"]) == 3.0
    # b continues from a's state and a's parameter values
    with ts.no_grad():
        for pa, pb in zip(a, b):
            pb.copy_(pa)
    opt_b.load_state_dict(sd)
    run(opt_a, a, grads[3:])
    run(opt_b, b, grads[3:])
    for pa, pb in zip(a, b):
        np.testing.assert_allclose(npy(pb), npy(pa), rtol=1e-12)
    # the loaded state is a copy, not the dict's tensors
    key = names[0]
    assert opt_b.state[b[0]][key] is not sd["state"][0][key]


def test_load_state_dict_errors():
    p = [nn.Parameter(ts.zeros(1)), nn.Parameter(ts.zeros(1))]
    opt = optim.Adam(p)
    sd = optim.Adam([p[0]]).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(sd)
    sd = optim.Adam([{"params": [p[0]]}, {"params": [p[1]]}]).state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        opt.load_state_dict(sd)


def test_optimizer_survives_module_dtype_change():
    rng = np.random.default_rng(5)
    lin = nn.Linear(3, 2)
    opt = optim.Adam(lin.parameters(), lr=0.1)
    ref = RefAdam(lr=0.1)
    ref_params = [npy(p) for p in lin.parameters()]
    for step in range(4):
        if step == 2:
            lin.double()
        grads = [rng.standard_normal(p.shape) for p in lin.parameters()]
        for p, g in zip(lin.parameters(), grads):
            p.grad = ts.tensor(g, dtype=p.dtype)
        opt.step()
        ref_params = [ref.step(i, p, g) for i, (p, g) in enumerate(zip(ref_params, grads))]
    for p, r in zip(lin.parameters(), ref_params):
        assert p.dtype == ts.float64 and opt.state[p]["exp_avg"].dtype == ts.float64
        np.testing.assert_allclose(npy(p), r, rtol=1e-5, atol=1e-5)  # the first steps ran in float32


def test_step_closure_returns_loss():
    p = nn.Parameter(ts.zeros(1))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        p.grad = ts.ones(1)
        return 42.0

    assert opt.step(closure) == 42.0
    assert npy(p).tolist() == pytest.approx([-0.1])


def test_repr():
    opt = optim.SGD([nn.Parameter(ts.zeros(1))], lr=0.1)
    assert repr(opt).startswith("SGD (\nParameter Group 0\n    dampening: 0\n    lr: 0.1\n")


# ----- learning-rate schedulers -------------------------------------------------

def lrs(scheduler, n):
    """The lr during epochs 0..n-1 (read before each step, as a training loop sees it)."""
    out = []
    for _ in range(n):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.step()
    return out


def new_opt(lr=1.0, cls=optim.SGD, **kw):
    return cls([nn.Parameter(ts.zeros(1))], lr=lr, **kw)


def test_step_lr():
    s = sched.StepLR(new_opt(0.1), step_size=3, gamma=0.5)
    assert lrs(s, 10) == pytest.approx([0.1 * 0.5 ** (e // 3) for e in range(10)])
    assert s.get_last_lr() == pytest.approx([0.1 * 0.5 ** 3])


def test_multi_step_lr():
    s = sched.MultiStepLR(new_opt(1.0), milestones=[2, 5, 5], gamma=0.1)
    assert lrs(s, 8) == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.001, 0.001, 0.001])


def test_exponential_lr():
    s = sched.ExponentialLR(new_opt(2.0), gamma=0.9)
    assert lrs(s, 6) == pytest.approx([2.0 * 0.9 ** e for e in range(6)], rel=1e-12)


def test_cosine_annealing_lr_follows_the_closed_form_past_t_max():
    s = sched.CosineAnnealingLR(new_opt(0.5), T_max=10, eta_min=0.01)
    expected = [0.01 + (0.5 - 0.01) * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(25)]
    assert lrs(s, 25) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert lrs(sched.CosineAnnealingLR(new_opt(1.0), T_max=4), 5) == pytest.approx(
        [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0.0], abs=1e-12)


def test_linear_lr():
    s = sched.LinearLR(new_opt(0.2), start_factor=0.25, end_factor=1.0, total_iters=4)
    expected = [0.2 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(7)]
    assert lrs(s, 7) == pytest.approx(expected, rel=1e-12)
    assert lrs(sched.LinearLR(new_opt(1.0)), 3) == pytest.approx([1 / 3, 1 / 3 + 2 / 15, 1 / 3 + 4 / 15])
    with pytest.raises(ValueError):
        sched.LinearLR(new_opt(), start_factor=0)


def test_lambda_lr_per_group():
    a, b = nn.Parameter(ts.zeros(1)), nn.Parameter(ts.zeros(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=1.0)
    s = sched.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: e + 1])
    for e in range(4):
        assert s.get_last_lr() == pytest.approx([0.5 ** e, 0.5 * (e + 1)])
        s.step()
    state = s.state_dict()
    assert state["lr_lambdas"] == [None, None] and state["last_epoch"] == 4
    with pytest.raises(ValueError):
        sched.LambdaLR(opt, [lambda e: 1.0])


def test_chained_schedulers_multiply():
    opt = new_opt(1.0)
    warm = sched.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = sched.ExponentialLR(opt, gamma=0.9)
    got = []
    for _ in range(4):
        got.append(opt.param_groups[0]["lr"])
        warm.step()
        decay.step()
    assert got == pytest.approx([0.5, 0.75 * 0.9, 0.81, 0.729])


def test_one_cycle_lr_cos_with_sgd_momentum():
    opt = new_opt(0.1, momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    lr0, lr_min = 1.0 / 25, 1.0 / 25 / 1e4

    def cos(a, b, pct):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * pct))

    # phase 1 ends at step pct_start * total - 1 = 2, phase 2 at step 9
    expected = [lr0, 0.52, 1.0] + [cos(1.0, lr_min, (e - 2) / 7) for e in range(3, 10)]
    expected_m = [0.95, 0.90, 0.85] + [cos(0.85, 0.95, (e - 2) / 7) for e in range(3, 10)]
    got, got_m = [], []
    for _ in range(10):
        got.append(opt.param_groups[0]["lr"])
        got_m.append(opt.param_groups[0]["momentum"])
        s.step()
    assert got == pytest.approx(expected, rel=1e-12)
    assert got[-1] == pytest.approx(4e-6)
    assert got_m == pytest.approx(expected_m, rel=1e-12)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        s.step()


def test_one_cycle_lr_linear_three_phase_with_adam_beta1():
    opt = new_opt(0.1, cls=optim.Adam, betas=(0.9, 0.99))
    s = sched.OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, anneal_strategy="linear", three_phase=True,
                         div_factor=25.0, final_div_factor=1e4)
    # phases end at steps 2, 4 and 9
    expected = [0.04, 0.52, 1.0, 0.52, 0.04, 0.04 + (4e-6 - 0.04) * 0.2, 0.04 + (4e-6 - 0.04) * 0.4,
                0.04 + (4e-6 - 0.04) * 0.6, 0.04 + (4e-6 - 0.04) * 0.8, 4e-6]
    expected_b1 = [0.95, 0.90, 0.85, 0.90, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    got, got_b1 = [], []
    for _ in range(10):
        got.append(opt.param_groups[0]["lr"])
        got_b1.append(opt.param_groups[0]["betas"][0])
        assert opt.param_groups[0]["betas"][1] == 0.99
        s.step()
    assert got == pytest.approx(expected, rel=1e-12)
    assert got_b1 == pytest.approx(expected_b1, rel=1e-12)
    class Plain(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

    with pytest.raises(ValueError, match="momentum"):
        sched.OneCycleLR(Plain([nn.Parameter(ts.zeros(1))]), max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="total_steps"):
        sched.OneCycleLR(new_opt(), max_lr=1.0)


def test_reduce_lr_on_plateau():
    opt = new_opt(1.0)
    s = sched.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    seen = []
    for metric in [1.0, 0.9, 0.95, 0.95, 0.95, 0.9, 0.89, 0.89, 0.89, 0.89]:
        s.step(metric)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]
    assert s.get_last_lr() == [0.25]
    # mode max, absolute threshold, cooldown and a floor
    opt = new_opt(1.0)
    s = sched.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.1, threshold_mode="abs",
                                cooldown=1, min_lr=0.005)
    seen = []
    for metric in [0.5, 0.55, 0.7, 0.7, 0.7, 0.7, 0.7]:
        s.step(metric)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01, 0.005, 0.005])
    with pytest.raises(ValueError):
        sched.ReduceLROnPlateau(opt, factor=1.0)


def test_scheduler_state_dict_roundtrip():
    opt = new_opt(1.0)
    s = sched.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        s.step()
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    opt2 = new_opt(1.0)
    s2 = sched.StepLR(opt2, step_size=2, gamma=0.5)
    s2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    s.step()
    s2.step()
    assert s2.get_last_lr() == s.get_last_lr() == [0.25]
    # resuming needs initial_lr in the groups
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(new_opt(), step_size=1, last_epoch=5)


def test_hyperparameter_change_that_needs_new_state():
    p = nn.Parameter(ts.ones(2, dtype=ts.float64))
    opt = optim.Adam([p], lr=0.1)
    ref = RefAdam(lr=0.1)
    ref_p = npy(p)
    for k in range(4):
        if k == 2:
            opt.param_groups[0]["amsgrad"] = True
            ref.h["amsgrad"] = True
        g = np.array([0.5, -1.0]) * (k + 1)
        p.grad = ts.tensor(g)
        opt.step()
        ref_p = ref.step(0, ref_p, g)
    assert "max_exp_avg_sq" in opt.state[p] and float(opt.state_dict()["state"][0]["step"]) == 4.0
    np.testing.assert_allclose(npy(p), ref_p, rtol=1e-12)
