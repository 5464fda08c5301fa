"""Finite-difference checks of gradients (first and second order), in float64."""
from .._numpy import np

from .. import _C

Tensor = _C.Tensor


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


_DIFFERENTIABLE = (_C.dtype.float32, _C.dtype.float64, _C.dtype.float16, _C.dtype.bfloat16,
                   _C.dtype.complex64, _C.dtype.complex128)


def _differentiable_outputs(func, inputs):
    outs = _as_tuple(func(*inputs))
    return [o for o in outs if isinstance(o, Tensor) and o.dtype in _DIFFERENTIABLE]


# Complex inputs and outputs count as (re, im) pairs of reals: the Jacobian checked is that of the real
# map, and autograd's complex gradient (dL/dRe + i dL/dIm, PyTorch's convention) is one row of it per seed
# (seed 1 differentiates Re(out), seed 1j Im(out)).
def _reals(t):
    """A tensor's values as a flat float64 array, complex ones as (re, im) pairs."""
    if t.dtype.is_complex:
        return np.asarray(t.detach().to(_C.dtype.complex128)).reshape(-1).view(np.float64).copy()
    return np.asarray(t.detach().to(_C.dtype.float64)).reshape(-1).copy()


def _n_reals(t):
    return t.numel() * (2 if t.dtype.is_complex else 1)


def _numerical(func, inputs, wrt, eps):
    """J[k][o]: d(output o, flattened) / d(input wrt[k], flattened) by central differences."""
    jac = []
    # Not under no_grad: func may itself differentiate (gradgradcheck).
    if True:
        base = _differentiable_outputs(func, inputs)
        for k in wrt:
            x = inputs[k]
            if not x.is_contiguous():
                raise GradcheckError(f"[gradcheck] input {k} must be contiguous")
            flat = np.asarray(x.detach()).reshape(-1)  # shares x's memory
            if flat.dtype.kind == "c":
                flat = flat.view(flat.real.dtype)  # (re, im) pairs, still x's memory
            cols = [np.zeros((flat.size, _n_reals(o))) for o in base]
            for i in range(flat.size):
                orig = flat[i]
                flat[i] = orig + eps
                plus = [_reals(o) for o in _differentiable_outputs(func, inputs)]
                flat[i] = orig - eps
                minus = [_reals(o) for o in _differentiable_outputs(func, inputs)]
                flat[i] = orig
                for j in range(len(base)):
                    cols[j][i] = (plus[j] - minus[j]) / (2 * eps)
            jac.append(cols)
    return jac


def _analytical(func, inputs, wrt):
    outs = _differentiable_outputs(func, inputs)
    jac = [[np.zeros((_n_reals(inputs[k]), _n_reals(o))) for o in outs] for k in wrt]
    targets = [inputs[k] for k in wrt]
    for j, o in enumerate(outs):
        if not o.requires_grad:
            continue
        parts = (1.0, 1j) if o.dtype.is_complex else (1.0,)
        for e in range(o.numel()):
            for p, unit in enumerate(parts):
                seed = np.zeros(o.numel(), dtype=complex if o.dtype.is_complex else float)
                seed[e] = unit
                g = _C.tensor(seed.reshape(o.shape), dtype=o.dtype)
                grads = _C._autograd.grad([o], targets, [g], True, False, True)
                for kk, gr in enumerate(grads):
                    if gr is not None:
                        jac[kk][j][:, e * len(parts) + p] = _reals(gr)
    return jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **_ignored):
    """Compares the gradients autograd computes with central finite differences.

    `inputs` are tensors (float64 or complex128 for meaningful tolerances); those with requires_grad=True
    are checked. Complex inputs and outputs count as (re, im) pairs, and a complex input's gradient is
    dL/dRe + i dL/dIm (PyTorch's convention), so the real Jacobian of the pairs is what is compared.
    Returns True, or raises GradcheckError naming the input, output and worst element.
    """
    inputs = _as_tuple(inputs)
    wrt = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise GradcheckError("[gradcheck] no input requires grad")
    num = _numerical(func, inputs, wrt, eps)
    ana = _analytical(func, inputs, wrt)
    for kk, k in enumerate(wrt):
        for j in range(len(num[kk])):
            a, n = ana[kk][j], num[kk][j]
            if not np.allclose(a, n, atol=atol, rtol=rtol):
                bad = np.unravel_index(np.argmax(np.abs(a - n) - rtol * np.abs(n)), a.shape)
                msg = (f"[gradcheck] Jacobian mismatch for output {j} with respect to input {k}: "
                       f"analytical {a[bad]:.6g} vs numerical {n[bad]:.6g} at (input element {bad[0]}, "
                       f"output element {bad[1]})")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
                  seed=0, **_ignored):
    """Checks second derivatives: gradcheck of (inputs, grad_outputs) -> autograd.grad(..., create_graph=True)."""
    inputs = _as_tuple(inputs)
    wrt = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    outs = _differentiable_outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [_C.tensor(rng.standard_normal(o.shape) + (1j * rng.standard_normal(o.shape)
                                                                  if o.dtype.is_complex else 0.0),
                                  dtype=o.dtype, requires_grad=True) for o in outs]
    grad_outputs = list(_as_tuple(grad_outputs))
    n_in = len(inputs)

    def first_grads(*args):
        xs, gos = args[:n_in], args[n_in:]
        ys = _differentiable_outputs(func, xs)
        used = [(y, g) for y, g in zip(ys, gos) if y.requires_grad]
        if not used:
            return tuple(_C.zeros_like(xs[k]) for k in wrt)
        grads = _C._autograd.grad([y for y, _ in used], [xs[k] for k in wrt], [g for _, g in used], True, True, True)
        return tuple(g if g is not None else _C.zeros_like(xs[k]) for g, k in zip(grads, wrt))

    return gradcheck(first_grads, tuple(inputs) + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
