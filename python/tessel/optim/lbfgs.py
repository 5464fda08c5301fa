"""L-BFGS with an optional strong-Wolfe line search, on the parameters as one flat vector."""
import tessel as ts

from ._checks import check_nonneg
from .optimizer import _LOW_PRECISION, Optimizer


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2),
    clamped to bounds (default: the interval); the midpoint if it has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc ** 0.5
    if x1 <= x2:
        x = x2 - (x2 - x1) * (g2 + d2 - d1) / (g2 - g1 + 2 * d2)
    else:
        x = x1 - (x1 - x2) * (g1 + d2 - d1) / (g1 - g2 + 2 * d2)
    return min(max(x, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Line search along d for a step t meeting the strong Wolfe conditions
    (sufficient decrease c1, curvature c2): bracket, then zoom with cubic
    interpolation (Nocedal & Wright, algorithms 3.5 and 3.6, as PyTorch's
    LBFGS does it). evaluate(t) -> (loss, flat grad). Returns (f, g, t, evals)."""
    d_norm = d.abs().max().item()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d).item()
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    it = 0
    bracket = None
    # Bracketing: grow t until the interval [t_prev, t] holds a point that satisfies the conditions.
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket = [[t, f_new, g_new, gtd_new]]
            done = True
            break
        if gtd_new >= 0:
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, g_new, gtd_new]]
            break
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d).item()
        it += 1
    if bracket is None:  # out of evaluations while bracketing
        bracket = [[0.0, f, g, None], [t, f_new, g_new, None]]
    # Zoom: shrink the bracket; `lo` is the end with the lower loss.
    insufficient = False
    lo, hi = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not done and it < max_ls:
        a, b = bracket[0][0], bracket[1][0]
        if abs(b - a) * d_norm < tolerance_change:
            break
        t = _cubic_min(a, bracket[0][1], bracket[0][3], b, bracket[1][1], bracket[1][3])
        top, bottom = max(a, b), min(a, b)
        margin = 0.1 * (top - bottom)
        # Too close to an end: move away from it unless the last try already made progress.
        if min(top - t, t - bottom) < margin:
            if insufficient or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d).item()
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[lo][1]:
            bracket[hi] = [t, f_new, g_new, gtd_new]
            lo, hi = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[hi][0] - bracket[lo][0]) >= 0:
                bracket[hi] = bracket[lo]
            bracket[lo] = [t, f_new, g_new, gtd_new]
    t, f_new, g_new = bracket[lo][0], bracket[lo][1], bracket[lo][2]
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    """PyTorch's L-BFGS: step(closure) runs up to max_iter iterations (max_eval
    closure calls) of the two-loop recursion over the last history_size
    (s, y) pairs, with a fixed step lr (the first one scaled by
    min(1, 1 / |g|_1)) or the 'strong_wolfe' line search. One param group only.

    bfloat16/float16 params: the flat vectors are float32 and the optimizer
    keeps a float32 master copy of the params (state['master_param'])."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None, *, maximize=False):
        check_nonneg(lr=lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if history_size < 1 or max_iter < 1:
            raise ValueError(f"LBFGS: history_size and max_iter must be >= 1, got {history_size} and {max_iter}")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn,
                        maximize=maximize)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    # ----- the parameters as one flat vector ------------------------------

    @property
    def _params(self):
        return self.param_groups[0]["params"]

    def _flat_dtype(self):
        dtypes = {p.dtype for p in self._params}
        if not all(dt.is_floating_point for dt in dtypes):
            raise TypeError(f"LBFGS: parameters must be real floating point, got {sorted(str(d) for d in dtypes)}")
        return ts.float64 if ts.float64 in dtypes else ts.float32

    def _low(self):
        return any(p.dtype in _LOW_PRECISION for p in self._params)

    def _gather_params(self):
        """x: the params flattened (low precision: the float32 master, re-seeded
        when the params no longer round from it)."""
        dt = self._flat_dtype()
        x = ts.cat([p.detach().reshape(-1).to(dt) for p in self._params])
        if self._low():
            st = self.state[self._params[0]]
            master = st.get("master_param")
            if master is not None and master.shape == x.shape and master.dtype == dt \
                    and all(bool((seg.to(p.dtype) == p.reshape(-1)).all()) for p, seg in self._split(master)):
                return master.clone()
            st["master_param"] = x.clone()
        return x

    def _split(self, flat):
        offset = 0
        for p in self._params:
            n = p.numel()
            yield p, flat[offset:offset + n]
            offset += n

    def _set_params(self, x):
        for p, seg in self._split(x):
            p.copy_(seg.reshape(p.shape))
        if self._low():
            self.state[self._params[0]]["master_param"] = x.clone()

    def _gather_grad(self, maximize):
        dt = self._flat_dtype()
        g = ts.cat([ts.zeros(p.numel(), dtype=dt, device=p.device) if p.grad is None
                    else p.grad.detach().reshape(-1).to(dt) for p in self._params])
        return -g if maximize else g

    # ----- the step -------------------------------------------------------

    def step(self, closure):
        """Runs the L-BFGS iterations; closure() must zero the grads, compute the
        loss, call backward and return the loss. Returns the first loss."""
        if closure is None:
            raise ValueError("LBFGS.step requires a closure that re-evaluates the model and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, maximize = group["history_size"], group["maximize"]
        line_search_fn = group["line_search_fn"]
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")

        def evaluate():
            with ts.enable_grad():
                out = closure()
            value = float(out)
            return out, (-value if maximize else value)

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss, loss = evaluate()
        evals = 1
        state["func_evals"] += 1
        with ts.no_grad():
            flat_grad = self._gather_grad(maximize)
            if flat_grad.abs().max().item() <= tol_grad:
                return orig_loss
            x = self._gather_params()
            d, t = state.get("d"), state.get("t")
            old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
            h_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d = -flat_grad
                    old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
                else:
                    y = flat_grad - prev_flat_grad
                    s = d * t
                    ys = y.dot(s).item()
                    if ys > 1e-10:  # keep the pair only where the curvature condition holds
                        keep = len(old_dirs) == history_size
                        old_dirs = old_dirs[keep:] + [y]
                        old_stps = old_stps[keep:] + [s]
                        ro = ro[keep:] + [1.0 / ys]
                        h_diag = ys / y.dot(y).item()
                    # Two-loop recursion: d = -H g with H from the stored pairs and h_diag as H0.
                    q = -flat_grad
                    al = [0.0] * len(old_dirs)
                    for i in range(len(old_dirs) - 1, -1, -1):
                        al[i] = old_stps[i].dot(q).item() * ro[i]
                        q = q - old_dirs[i] * al[i]
                    r = q * h_diag
                    for i in range(len(old_dirs)):
                        be_i = old_dirs[i].dot(r).item() * ro[i]
                        r = r + old_stps[i] * (al[i] - be_i)
                    d = r
                prev_flat_grad = flat_grad.clone()
                prev_loss = loss
                if state["n_iter"] == 1:
                    t = min(1.0, 1.0 / flat_grad.abs().sum().item()) * lr
                else:
                    t = lr
                gtd = flat_grad.dot(d).item()
                if gtd > -tol_change:  # not a descent direction
                    break
                ls_evals = 0
                if line_search_fn == "strong_wolfe":
                    x0 = x

                    def directional(step_size):
                        self._set_params(x0 + d * step_size)
                        with ts.enable_grad():
                            _, value = evaluate()
                        grad = self._gather_grad(maximize)
                        self._set_params(x0)
                        return value, grad

                    loss, flat_grad, t, ls_evals = _strong_wolfe(directional, t, d, loss, flat_grad, gtd,
                                                                 max_ls=max_eval - evals)
                    x = x0 + d * t
                    self._set_params(x)
                    opt_cond = flat_grad.abs().max().item() <= tol_grad
                else:
                    x = x + d * t
                    self._set_params(x)
                    opt_cond = False
                    if n_iter != max_iter:
                        # the loss and grad at the new point (skipped on the last iteration)
                        _, loss = evaluate()
                        flat_grad = self._gather_grad(maximize)
                        opt_cond = flat_grad.abs().max().item() <= tol_grad
                        ls_evals = 1
                evals += ls_evals
                state["func_evals"] += ls_evals
                if n_iter == max_iter or evals >= max_eval or opt_cond:
                    break
                if (d * t).abs().max().item() <= tol_change or abs(loss - prev_loss) < tol_change:
                    break
            state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                         prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
