"""Adagrad, Adamax, NAdam, RAdam and LBFGS against NumPy float64 transcriptions of
PyTorch's documented algorithms; mixed-precision (bfloat16/float16) training;
the extra learning-rate schedulers against their closed forms."""
import math

import numpy as np
import pytest

import tessel as ts
from tessel import nn, optim
from tessel.optim import lr_scheduler as sched


def npy(t):
    return np.array(t.detach().float().tolist() if t.dtype in (ts.bfloat16, ts.float16) else t.detach().tolist(),
                    dtype=np.float64)


# ----- NumPy references (the update rules of torch.optim's documentation) -----

class RefAdagrad:
    def __init__(self, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, maximize=False):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g):
        s = self.state.setdefault(i, {"t": 0, "sum": np.full_like(p, self.initial_accumulator_value)})
        s["t"] += 1
        g = -g if self.maximize else g
        g = g + self.weight_decay * p
        clr = self.lr / (1 + (s["t"] - 1) * self.lr_decay)
        s["sum"] = s["sum"] + g * g
        return p - clr * g / (np.sqrt(s["sum"]) + self.eps)


class RefAdamax:
    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g):
        b1, b2 = self.betas
        s = self.state.setdefault(i, {"t": 0, "m": np.zeros_like(p), "u": np.zeros_like(p)})
        s["t"] += 1
        g = -g if self.maximize else g
        g = g + self.weight_decay * p
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["u"] = np.maximum(b2 * s["u"], np.abs(g) + self.eps)
        return p - self.lr / (1 - b1 ** s["t"]) * s["m"] / s["u"]


class RefNAdam:
    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, maximize=False):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g):
        b1, b2 = self.betas
        s = self.state.setdefault(i, {"t": 0, "m": np.zeros_like(p), "v": np.zeros_like(p), "prod": 1.0})
        t = s["t"] = s["t"] + 1
        g = -g if self.maximize else g
        if self.decoupled_weight_decay:
            p = p * (1 - self.lr * self.weight_decay)
        else:
            g = g + self.weight_decay * p
        mu = b1 * (1 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        s["prod"] *= mu
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        denom = np.sqrt(s["v"] / (1 - b2 ** t)) + self.eps
        return (p - self.lr * (1 - mu) / (1 - s["prod"]) * g / denom
                - self.lr * mu_next / (1 - s["prod"] * mu_next) * s["m"] / denom)


class RefRAdam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 maximize=False):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g):
        b1, b2 = self.betas
        s = self.state.setdefault(i, {"t": 0, "m": np.zeros_like(p), "v": np.zeros_like(p)})
        t = s["t"] = s["t"] + 1
        g = -g if self.maximize else g
        if self.decoupled_weight_decay:
            p = p * (1 - self.lr * self.weight_decay)
        else:
            g = g + self.weight_decay * p
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        m_hat = s["m"] / (1 - b1 ** t)
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t <= 5:
            return p - self.lr * m_hat
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        adaptive = math.sqrt(1 - b2 ** t) / (np.sqrt(s["v"]) + self.eps)
        return p - self.lr * m_hat * r * adaptive


CASES = [
    (optim.Adagrad, RefAdagrad, dict(lr=0.1)),
    (optim.Adagrad, RefAdagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3,
                                     maximize=True)),
    (optim.Adamax, RefAdamax, dict(lr=0.05)),
    (optim.Adamax, RefAdamax, dict(lr=0.05, betas=(0.8, 0.95), weight_decay=0.2, maximize=True)),
    (optim.NAdam, RefNAdam, dict(lr=0.05)),
    (optim.NAdam, RefNAdam, dict(lr=0.05, weight_decay=0.1, momentum_decay=0.01)),
    (optim.NAdam, RefNAdam, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    # betas[1] = 0.9 makes rho_t cross 5 at the 6th step: both RAdam branches run
    (optim.RAdam, RefRAdam, dict(lr=0.05, betas=(0.9, 0.9))),
    (optim.RAdam, RefRAdam, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),
    (optim.RAdam, RefRAdam, dict(lr=0.05, betas=(0.9, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
]
SHAPES = [(3, 4), (4,), (2, 2, 2)]


def make_params(rng, shapes, dtype):
    return [nn.Parameter(ts.tensor(rng.standard_normal(s), dtype=dtype)) for s in shapes]


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = ts.tensor(g, dtype=p.dtype)


@pytest.mark.parametrize("opt_cls, ref_cls, kwargs", CASES)
@pytest.mark.parametrize("dtype", [ts.float64, ts.float32])
def test_updates_match_numpy(opt_cls, ref_cls, kwargs, dtype):
    rng = np.random.default_rng(0)
    params = make_params(rng, SHAPES, dtype)
    ref_params = [npy(p) for p in params]
    opt = opt_cls(params, **kwargs)
    ref = ref_cls(**kwargs)
    for _ in range(8):
        grads = [rng.standard_normal(s) for s in SHAPES]
        set_grads(params, grads)
        opt.step()
        ref_params = [ref.step(i, p, g) for i, (p, g) in enumerate(zip(ref_params, grads))]
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == ts.float64 else dict(rtol=2e-5, atol=2e-6)
    for p, r in zip(params, ref_params):
        assert p.dtype == dtype
        np.testing.assert_allclose(npy(p), r, **tol)


@pytest.mark.parametrize("opt_cls, ref_cls, kwargs", [CASES[1], CASES[3], CASES[5], CASES[8]])
def test_params_without_grad_keep_their_own_step_count(opt_cls, ref_cls, kwargs):
    rng = np.random.default_rng(1)
    shapes = [(3,), (2, 2)]
    params = make_params(rng, shapes, ts.float64)
    ref_params = [npy(p) for p in params]
    opt = opt_cls(params, **kwargs)
    ref = ref_cls(**kwargs)
    for with_grad in [(0,), (0, 1), (0,), (0, 1), (1,), (0, 1)]:
        for i, p in enumerate(params):
            if i in with_grad:
                g = rng.standard_normal(shapes[i])
                p.grad = ts.tensor(g)
                ref_params[i] = ref.step(i, ref_params[i], g)
            else:
                p.grad = None
        opt.step()
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(npy(p), r, rtol=1e-10, atol=1e-12)
    assert [float(opt.state_dict()["state"][i]["step"]) for i in range(2)] == [5.0, 4.0]


STATE_NAMES = {optim.Adagrad: ["step", "sum"], optim.Adamax: ["exp_avg", "exp_inf", "step"],
               optim.NAdam: ["exp_avg", "exp_avg_sq", "mu_product", "step"],
               optim.RAdam: ["exp_avg", "exp_avg_sq", "step"]}


@pytest.mark.parametrize("opt_cls, kwargs", [(c[0], c[2]) for c in CASES[1::2]])
def test_state_dict_roundtrip(opt_cls, kwargs):
    rng = np.random.default_rng(3)
    grads = [[rng.standard_normal(3), rng.standard_normal((2, 2))] for _ in range(8)]
    a = make_params(np.random.default_rng(4), [(3,), (2, 2)], ts.float64)
    b = make_params(np.random.default_rng(4), [(3,), (2, 2)], ts.float64)
    opt_a, opt_b = opt_cls(a, **kwargs), opt_cls(b, **kwargs)
    for g in grads[:4]:
        set_grads(a, g)
        opt_a.step()
    sd = opt_a.state_dict()
    assert sorted(sd["state"][0]) == STATE_NAMES[opt_cls]
    assert float(sd["state"][1]["step"]) == 4.0
    assert {k: v for k, v in sd["param_groups"][0].items() if k not in ("params", "initial_lr")} == \
        {k: v for k, v in opt_b.param_groups[0].items() if k != "params"}
    with ts.no_grad():
        for pa, pb in zip(a, b):
            pb.copy_(pa)
    opt_b.load_state_dict(sd)
    for g in grads[4:]:
        set_grads(a, g)
        set_grads(b, g)
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_allclose(npy(pb), npy(pa), rtol=1e-13)
    # a fresh optimizer would differ: the state made a difference
    c = make_params(np.random.default_rng(4), [(3,), (2, 2)], ts.float64)
    opt_c = opt_cls(c, **kwargs)
    with ts.no_grad():
        for pa, pc in zip(opt_b.param_groups[0]["params"], c):
            pc.copy_(pa)
    set_grads(c, grads[0])
    set_grads(b, grads[0])
    opt_b.step()
    opt_c.step()
    assert not np.allclose(npy(c[0]), npy(b[0]))


def test_nadam_mu_product_is_the_running_product():
    p = nn.Parameter(ts.zeros(2, dtype=ts.float64))
    opt = optim.NAdam([p], betas=(0.9, 0.999), momentum_decay=4e-3)
    prod = 1.0
    for t in range(1, 4):
        p.grad = ts.ones(2, dtype=ts.float64)
        opt.step()
        prod *= 0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3))
    mp = opt.state_dict()["state"][0]["mu_product"]
    assert isinstance(mp, ts.Tensor) and mp.shape == () and abs(mp.item() - prod) < 1e-15


def test_adagrad_state_exists_from_construction():
    p = nn.Parameter(ts.zeros(3, dtype=ts.float64))
    opt = optim.Adagrad([p], initial_accumulator_value=0.5)
    st = opt.state_dict()["state"][0]
    assert float(st["step"]) == 0.0 and npy(st["sum"]).tolist() == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("cls, kwargs, match", [
    (optim.Adagrad, dict(lr=-1), "Invalid learning rate"),
    (optim.Adagrad, dict(lr_decay=-1), "Invalid lr_decay value"),
    (optim.Adagrad, dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value"),
    (optim.Adagrad, dict(eps=-1), "Invalid epsilon value"),
    (optim.Adamax, dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0"),
    (optim.Adamax, dict(weight_decay=-0.1), "Invalid weight_decay value"),
    (optim.NAdam, dict(momentum_decay=-1), "Invalid momentum_decay value"),
    (optim.NAdam, dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1"),
    (optim.RAdam, dict(lr=-0.1), "Invalid learning rate"),
    (optim.LBFGS, dict(lr=-1), "Invalid learning rate"),
    (optim.LBFGS, dict(line_search_fn="armijo"), "strong_wolfe"),
])
def test_argument_validation(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([nn.Parameter(ts.zeros(1))], **kwargs)


def test_defaults_are_pytorchs():
    p = [nn.Parameter(ts.zeros(1))]
    assert optim.Adagrad(p).defaults == dict(lr=1e-2, lr_decay=0, eps=1e-10, weight_decay=0,
                                             initial_accumulator_value=0, maximize=False)
    assert optim.Adamax(p).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False)
    assert optim.NAdam(p).defaults == dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                                           momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False)
    assert optim.RAdam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                                           decoupled_weight_decay=False, maximize=False)
    assert optim.LBFGS(p).defaults == dict(lr=1, max_iter=20, max_eval=25, tolerance_grad=1e-7,
                                           tolerance_change=1e-9, history_size=100, line_search_fn=None,
                                           maximize=False)


# ----- LBFGS -----

def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def rosenbrock_np(x):
    f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
    return f, g


def ref_lbfgs_fixed_step(x, steps, lr, max_iter, history_size, tol_grad=1e-7, tol_change=1e-9):
    """NumPy L-BFGS without line search (PyTorch's documented iteration: two-loop
    recursion, first step scaled by min(1, 1/|g|_1), state carried across step() calls)."""
    st = dict(n_iter=0, evals=0)
    for _ in range(steps):
        f, g = rosenbrock_np(x)
        st["evals"] += 1
        evals = 1
        if np.abs(g).max() <= tol_grad:
            continue
        for n in range(1, max_iter + 1):
            st["n_iter"] += 1
            if st["n_iter"] == 1:
                d = -g
                dirs, stps, ro, h = [], [], [], 1.0
            else:
                d, t = st["d"], st["t"]
                dirs, stps, ro, h = st["dirs"], st["stps"], st["ro"], st["h"]
                y, s = g - st["g_prev"], d * t
                ys = y @ s
                if ys > 1e-10:
                    if len(dirs) == history_size:
                        dirs, stps, ro = dirs[1:], stps[1:], ro[1:]
                    dirs, stps, ro, h = dirs + [y], stps + [s], ro + [1 / ys], ys / (y @ y)
                q, al = -g, [0.0] * len(dirs)
                for i in reversed(range(len(dirs))):
                    al[i] = (stps[i] @ q) * ro[i]
                    q = q - al[i] * dirs[i]
                d = q * h
                for i in range(len(dirs)):
                    d = d + stps[i] * (al[i] - (dirs[i] @ d) * ro[i])
            st.update(d=d, dirs=dirs, stps=stps, ro=ro, h=h, g_prev=g, f_prev=f)
            t = min(1.0, 1.0 / np.abs(g).sum()) * lr if st["n_iter"] == 1 else lr
            st["t"] = t
            if g @ d > -tol_change:
                break
            x = x + t * d
            if n == max_iter:
                break
            f_prev = f
            f, g = rosenbrock_np(x)
            evals += 1
            st["evals"] += 1
            if evals >= max_iter * 5 // 4 or np.abs(g).max() <= tol_grad:
                break
            if np.abs(d * t).max() <= tol_change or abs(f - f_prev) < tol_change:
                break
    return x, st


def lbfgs_run(steps, **kwargs):
    x = nn.Parameter(ts.tensor([-1.5, 2.0], dtype=ts.float64))
    opt = optim.LBFGS([x], **kwargs)

    def closure():
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(steps)]
    return x, opt, losses


@pytest.mark.parametrize("history_size", [2, 100])
def test_lbfgs_fixed_step_matches_numpy(history_size):
    x, opt, losses = lbfgs_run(3, lr=0.5, max_iter=6, history_size=history_size)
    ref, st = ref_lbfgs_fixed_step(np.array([-1.5, 2.0]), 3, 0.5, 6, history_size)
    np.testing.assert_allclose(npy(x), ref, rtol=1e-10)
    state = opt.state[x]
    assert state["n_iter"] == st["n_iter"] and state["func_evals"] == st["evals"]
    assert len(state["old_dirs"]) <= history_size
    assert losses[0] == rosenbrock_np(np.array([-1.5, 2.0]))[0]  # step returns the first loss


def test_lbfgs_strong_wolfe_matches_pytorch():
    # torch.optim.LBFGS(lr=1, max_iter=7, history_size=3, line_search_fn="strong_wolfe") in float64, three
    # step() calls from (-1.5, 2) on the Rosenbrock function; values printed by the PyTorch reference.
    x, opt, _ = lbfgs_run(3, lr=1, max_iter=7, history_size=3, line_search_fn="strong_wolfe")
    np.testing.assert_allclose(npy(x), [0.056564218261094465, -0.02217403695043733], rtol=1e-7)
    assert opt.state[x]["func_evals"] == 25 and opt.state[x]["n_iter"] == 18


def test_lbfgs_strong_wolfe_converges_and_maximize():
    x, opt, losses = lbfgs_run(10, max_iter=20, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                               tolerance_change=1e-14)
    np.testing.assert_allclose(npy(x), [1.0, 1.0], atol=1e-6)
    # maximize the negated function: the same minimizer
    y = nn.Parameter(ts.tensor([-1.5, 2.0], dtype=ts.float64))
    opt = optim.LBFGS([y], line_search_fn="strong_wolfe", maximize=True, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = -rosenbrock(y)
        loss.backward()
        return loss

    for _ in range(10):
        opt.step(closure)
    np.testing.assert_allclose(npy(y), [1.0, 1.0], atol=1e-6)


def test_lbfgs_fits_a_linear_model_over_several_params():
    rng = np.random.default_rng(7)
    xs = ts.tensor(rng.standard_normal((50, 3)))
    ys = xs @ ts.tensor([[1.0], [-2.0], [0.5]], dtype=ts.float64) + 0.25
    lin = nn.Linear(3, 1).double()
    opt = optim.LBFGS(lin.parameters(), history_size=5, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                      tolerance_change=1e-20)

    def closure():
        opt.zero_grad()
        loss = ((lin(xs) - ys) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(npy(lin.weight), [[1.0, -2.0, 0.5]], atol=1e-6)
    np.testing.assert_allclose(npy(lin.bias), [0.25], atol=1e-6)


def test_lbfgs_state_dict_roundtrip_and_errors():
    x, opt, _ = lbfgs_run(2, max_iter=4, history_size=3)
    sd = opt.state_dict()
    assert {"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss", "func_evals",
            "n_iter"} <= set(sd["state"][0])
    y = nn.Parameter(ts.tensor(x.tolist(), dtype=ts.float64))
    opt2 = optim.LBFGS([y], max_iter=4, history_size=3)
    opt2.load_state_dict(sd)

    def make_closure(p, o):
        def closure():
            o.zero_grad()
            loss = rosenbrock(p)
            loss.backward()
            return loss
        return closure

    for _ in range(2):
        opt.step(make_closure(x, opt))
        opt2.step(make_closure(y, opt2))
    np.testing.assert_allclose(npy(y), npy(x), rtol=1e-13)
    with pytest.raises(TypeError):
        opt.step()  # the closure is required, as in PyTorch
    with pytest.raises(ValueError, match="closure"):
        opt.step(None)
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [nn.Parameter(ts.zeros(1))]}, {"params": [nn.Parameter(ts.zeros(1))]}])


# ----- mixed precision -----

ALL_OPTIMIZERS = [
    (optim.SGD, dict(lr=0.05)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (optim.Adam, dict(lr=1e-2)),
    (optim.Adam, dict(lr=1e-2, amsgrad=True)),
    (optim.AdamW, dict(lr=1e-2)),
    (optim.RMSprop, dict(lr=3e-3, momentum=0.5, centered=True)),
    (optim.Adagrad, dict(lr=5e-2)),
    (optim.Adamax, dict(lr=1e-2)),
    (optim.NAdam, dict(lr=1e-2)),
    (optim.RAdam, dict(lr=1e-2)),
]


def bf16_ulp(x):
    """The bfloat16 spacing at |x| (8 significant bits)."""
    x = np.maximum(np.abs(x), np.finfo(np.float32).tiny)
    return 2.0 ** (np.floor(np.log2(x)) - 7)


def make_mlp(dtype):
    ts.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)


def regression_data(dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 4))
    y = np.sin(x @ np.array([[1.0], [-0.5], [0.3], [0.8]]))
    return ts.tensor(x, dtype=dtype), ts.tensor(y, dtype=dtype)


@pytest.mark.parametrize("opt_cls, kwargs", ALL_OPTIMIZERS)
@pytest.mark.parametrize("dtype", [ts.bfloat16, ts.float16])
def test_low_precision_mlp_trains(opt_cls, kwargs, dtype):
    model = make_mlp(dtype)
    x, y = regression_data(dtype)
    opt = opt_cls(model.parameters(), **kwargs)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.float().item())
    assert all(p.dtype == dtype for p in model.parameters())
    assert losses[-1] < 0.5 * losses[0], losses[::10]
    for st in opt.state.values():
        for name, value in st.items():
            if isinstance(value, ts.Tensor) and name != "step":
                assert value.dtype == ts.float32, name  # state and master weights in float32
    if opt.state:
        assert all("master_param" in st for st in opt.state.values())


@pytest.mark.parametrize("opt_cls, kwargs", ALL_OPTIMIZERS)
def test_one_low_precision_step_is_the_float32_step_rounded(opt_cls, kwargs):
    rng = np.random.default_rng(12)
    shapes = [(5, 3), (7,)]
    p16 = [nn.Parameter(ts.tensor(rng.standard_normal(s), dtype=ts.bfloat16)) for s in shapes]
    p32 = [nn.Parameter(p.detach().float()) for p in p16]
    opt16, opt32 = opt_cls(p16, **kwargs), opt_cls(p32, **kwargs)
    stateless = opt_cls is optim.SGD and not kwargs.get("momentum")
    for _ in range(3):
        # With state, the float32 master carries the float32 trajectory; plain SGD has no
        # master, so each of its steps is compared from the same (rounded) start.
        if stateless:
            with ts.no_grad():
                for a, b in zip(p16, p32):
                    b.copy_(a)
        grads = [rng.standard_normal(s) for s in shapes]
        for a, b, g in zip(p16, p32, grads):
            a.grad = ts.tensor(g, dtype=ts.bfloat16)
            b.grad = a.grad.float()
        opt16.step()
        opt32.step()
        for a, b in zip(p16, p32):
            exact = npy(b)
            assert a.dtype == ts.bfloat16
            assert np.all(np.abs(npy(a) - exact) <= bf16_ulp(exact)), (npy(a), exact)
    # with state, the master copy is the float32 trajectory itself
    if opt16.state:
        for a, b in zip(p16, p32):
            np.testing.assert_allclose(npy(opt16.state[a]["master_param"]), npy(b), rtol=1e-6, atol=1e-7)


def test_master_weights_keep_sub_ulp_progress_and_follow_outside_changes():
    p = nn.Parameter(ts.ones(3, dtype=ts.bfloat16))
    opt = optim.Adam([p], lr=1e-3)
    for _ in range(10):
        p.grad = ts.ones(3, dtype=ts.bfloat16)
        opt.step()
    # each step (1e-3) is below half an ulp at 1.0 (2**-8); the master accumulates them
    np.testing.assert_allclose(npy(opt.state[p]["master_param"]), [0.99] * 3, rtol=1e-5)
    assert npy(p).tolist() == [0.98828125] * 3  # 0.99 rounded to bfloat16
    with ts.no_grad():
        p.fill_(4.0)  # changed from outside: the next step starts from 4
    p.grad = ts.ones(3, dtype=ts.bfloat16)
    opt.step()
    np.testing.assert_allclose(npy(opt.state[p]["master_param"]), [4.0 - 1e-3] * 3, rtol=1e-6)


def test_low_precision_state_dict_roundtrip_keeps_master_weights():
    rng = np.random.default_rng(13)
    grads = [rng.standard_normal(4) for _ in range(6)]
    a = nn.Parameter(ts.tensor(rng.standard_normal(4), dtype=ts.bfloat16))
    b = nn.Parameter(a.detach().clone())
    opt_a, opt_b = optim.AdamW([a], lr=1e-3), optim.AdamW([b], lr=1e-3)
    for g in grads[:3]:
        a.grad = ts.tensor(g, dtype=ts.bfloat16)
        opt_a.step()
    sd = opt_a.state_dict()
    assert sd["state"][0]["master_param"].dtype == ts.float32
    assert sd["state"][0]["exp_avg"].dtype == ts.float32
    with ts.no_grad():
        b.copy_(a)
    opt_b.load_state_dict(sd)
    for g in grads[3:]:
        for p, o in ((a, opt_a), (b, opt_b)):
            p.grad = ts.tensor(g, dtype=ts.bfloat16)
            o.step()
    assert npy(a).tolist() == npy(b).tolist()
    np.testing.assert_array_equal(npy(opt_a.state[a]["master_param"]), npy(opt_b.state[b]["master_param"]))


def test_switching_a_model_between_precisions_keeps_float32_state():
    model = make_mlp(ts.float32)
    x, y = regression_data(ts.float32)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for step in range(6):
        if step == 2:
            model.bfloat16()
            x, y = x.bfloat16(), y.bfloat16()
        if step == 4:
            model.float()
            x, y = x.float(), y.float()
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
        st = opt.state[model[0].weight]
        assert st["exp_avg"].dtype == ts.float32
        assert ("master_param" in st) == (2 <= step < 4)


def test_lbfgs_low_precision_keeps_a_float32_master():
    target = ts.tensor([0.3, -1.2, 2.5])
    p = nn.Parameter(ts.zeros(3, dtype=ts.bfloat16))
    opt = optim.LBFGS([p], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((p.float() - target) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert p.dtype == ts.bfloat16
    master = opt.state[p]["master_param"]
    assert master.dtype == ts.float32
    # the loss sees the rounded params, so the optimum is found to bfloat16 precision
    ulp = bf16_ulp(np.array([0.3, -1.2, 2.5]))
    assert np.all(np.abs(npy(master) - [0.3, -1.2, 2.5]) <= ulp)
    assert np.all(np.abs(npy(p) - [0.3, -1.2, 2.5]) <= 1.5 * ulp)


def test_module_precision_conversions_touch_floating_tensors_only():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.register_buffer("scale", ts.ones(2))
            self.register_buffer("count", ts.zeros(1, dtype=ts.int64))

    for convert, dtype in [(lambda m: m.bfloat16(), ts.bfloat16), (lambda m: m.half(), ts.float16),
                           (lambda m: m.to(ts.bfloat16), ts.bfloat16), (lambda m: m.to(dtype=ts.float16), ts.float16)]:
        net = Net()
        weight = net.lin.weight
        assert convert(net) is net
        assert net.lin.weight is weight  # same Parameter object: optimizers keep working
        assert net.lin.weight.dtype == dtype and net.lin.bias.dtype == dtype and net.scale.dtype == dtype
        assert net.count.dtype == ts.int64
        assert net.state_dict()["scale"].dtype == dtype
    bn = nn.BatchNorm1d(3).bfloat16()
    assert bn.running_mean.dtype == ts.bfloat16 and bn.num_batches_tracked.dtype == ts.int64


# ----- learning-rate schedulers (closed forms from PyTorch's documentation) -----

def two_group_opt(cls=optim.SGD, **kw):
    a, b = nn.Parameter(ts.zeros(1)), nn.Parameter(ts.zeros(1))
    return cls([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=1.0, **kw)


def lr_trace(opt, scheduler, n, extra=None):
    out = []
    for _ in range(n):
        assert scheduler.get_last_lr() == [g["lr"] for g in opt.param_groups]
        out.append(scheduler.get_last_lr() + ([extra(opt.param_groups[0])] if extra else []))
        opt.step()
        scheduler.step()
    return np.array(out)


def test_constant_lr():
    opt = two_group_opt()
    got = lr_trace(opt, sched.ConstantLR(opt, factor=0.25, total_iters=4), 8)
    want = [[b * (0.25 if e < 4 else 1.0) for b in (1.0, 0.5)] for e in range(8)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sched.ConstantLR(opt, factor=1.5)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_polynomial_lr(power):
    opt = two_group_opt()
    got = lr_trace(opt, sched.PolynomialLR(opt, total_iters=7, power=power), 11)
    want = [[b * (1 - min(e, 7) / 7) ** power for b in (1.0, 0.5)] for e in range(11)]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("T_0, T_mult", [(5, 1), (3, 2), (2, 3)])
def test_cosine_annealing_warm_restarts(T_0, T_mult):
    opt = two_group_opt()
    got = lr_trace(opt, sched.CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult, eta_min=0.05), 40)
    want, start, length = [], 0, T_0
    for e in range(40):
        if e - start >= length:
            start, length = start + length, length * T_mult
        want.append([0.05 + (b - 0.05) * (1 + math.cos(math.pi * (e - start) / length)) / 2 for b in (1.0, 0.5)])
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_cosine_annealing_warm_restarts_fractional_epochs():
    opt = two_group_opt()
    s = sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
    for epoch, (t_cur, t_i) in [(0.5, (0.5, 2)), (1.75, (1.75, 2)), (2.5, (0.5, 4)), (7.0, (1.0, 8)), (6.0, (0.0, 8))]:
        s.step(epoch)
        assert (s.T_cur, s.T_i) == (t_cur, t_i)
        assert s.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * t_cur / t_i)) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="non-negative epoch"):
        s.step(-1)
    with pytest.raises(ValueError, match="T_0"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult"):
        sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)


def cyclic_closed_form(e, base, top, up, down, scale):
    pos = e % (up + down)
    height = pos / up if pos <= up else (up + down - pos) / down
    return base + (top - base) * height * scale


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr_modes_with_momentum(mode):
    opt = two_group_opt(momentum=0.9)
    s = sched.CyclicLR(opt, base_lr=0.1, max_lr=[1.0, 0.6], step_size_up=3, step_size_down=5, mode=mode,
                       gamma=0.95, base_momentum=0.8, max_momentum=0.9)
    got = lr_trace(opt, s, 30, extra=lambda g: g["momentum"])
    want = []
    for e in range(30):
        cycle = e // 8 + 1
        scale = {"triangular": 1.0, "triangular2": 0.5 ** (cycle - 1), "exp_range": 0.95 ** e}[mode]
        unit = cyclic_closed_form(e, 0.0, 1.0, 3, 5, scale)  # height * scale
        want.append([0.1 + 0.9 * unit, 0.1 + 0.5 * unit, 0.9 - 0.1 * unit])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_cyclic_lr_cycles_adam_beta1_and_custom_scale_fn():
    opt = two_group_opt(optim.Adam, betas=(0.5, 0.999))
    s = sched.CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=2, scale_fn=lambda x: 1.0 / x)
    got = lr_trace(opt, s, 12, extra=lambda g: g["betas"][0])
    want = []
    for e in range(12):
        unit = cyclic_closed_form(e, 0.0, 1.0, 2, 2, 1.0 / (e // 4 + 1))
        want.append([0.1 + 0.9 * unit, 0.1 + 0.9 * unit, 0.9 - 0.1 * unit])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    assert opt.param_groups[0]["betas"][1] == 0.999
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.CyclicLR(two_group_opt(optim.Adagrad), base_lr=0.1, max_lr=1.0)
    with pytest.raises(ValueError, match="mode is invalid"):
        sched.CyclicLR(opt, base_lr=0.1, max_lr=1.0, mode="sawtooth")
    sched.CyclicLR(two_group_opt(optim.Adagrad), base_lr=0.1, max_lr=1.0, cycle_momentum=False)


def test_sequential_lr_warmup_then_decay():
    opt = two_group_opt()
    warm = sched.LinearLR(opt, start_factor=0.1, total_iters=4)
    decay = sched.ExponentialLR(opt, gamma=0.9)
    cos = sched.CosineAnnealingLR(opt, T_max=6)
    s = sched.SequentialLR(opt, [warm, decay, cos], milestones=[5, 12])
    got = lr_trace(opt, s, 20)
    want = []
    for e in range(20):
        if e < 5:
            f = 0.1 + 0.9 * min(e, 4) / 4
        elif e < 12:
            f = 0.9 ** (e - 5)
        else:
            f = (1 + math.cos(math.pi * (e - 12) / 6)) / 2
        want.append([f * b for b in (1.0, 0.5)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        sched.SequentialLR(opt, [warm, decay], milestones=[2, 3])
    with pytest.raises(ValueError, match="same optimizer"):
        sched.SequentialLR(opt, [warm, sched.StepLR(two_group_opt(), 2)], milestones=[2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        sched.SequentialLR(opt, [warm, sched.ReduceLROnPlateau(opt)], milestones=[2])


def test_chained_scheduler_multiplies():
    opt = two_group_opt()
    s = sched.ChainedScheduler([sched.ConstantLR(opt, factor=0.5, total_iters=3), sched.ExponentialLR(opt, gamma=0.9)])
    got = lr_trace(opt, s, 8)
    want = [[b * (0.5 if e < 3 else 1.0) * 0.9 ** e for b in (1.0, 0.5)] for e in range(8)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        sched.ChainedScheduler([])


SCHEDULER_BUILDERS = {
    "constant": lambda o: sched.ConstantLR(o, factor=0.5, total_iters=3),
    "poly": lambda o: sched.PolynomialLR(o, total_iters=9, power=2.0),
    "cawr": lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.01),
    "cyclic": lambda o: sched.CyclicLR(o, base_lr=0.1, max_lr=1.0, step_size_up=3, mode="triangular2"),
    "sequential": lambda o: sched.SequentialLR(o, [sched.LinearLR(o, start_factor=0.2, total_iters=3),
                                                   sched.PolynomialLR(o, total_iters=5)], milestones=[4]),
    "chained": lambda o: sched.ChainedScheduler([sched.ExponentialLR(o, gamma=0.8),
                                                 sched.CyclicLR(o, 0.1, 1.0, step_size_up=2, cycle_momentum=False)]),
}


@pytest.mark.parametrize("name", sorted(SCHEDULER_BUILDERS))
def test_scheduler_state_dict_resumes(name):
    build = SCHEDULER_BUILDERS[name]
    opt_a = two_group_opt(momentum=0.9)
    a = build(opt_a)
    for _ in range(5):
        opt_a.step()
        a.step()
    sd = a.state_dict()
    assert "optimizer" not in sd
    opt_b = two_group_opt(momentum=0.9)
    b = build(opt_b)
    opt_b.load_state_dict(opt_a.state_dict())
    b.load_state_dict(sd)
    assert b.get_last_lr() == a.get_last_lr()
    for _ in range(7):
        opt_a.step()
        opt_b.step()
        a.step()
        b.step()
        assert b.get_last_lr() == pytest.approx(a.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in opt_b.param_groups] == pytest.approx([g["lr"] for g in opt_a.param_groups])
