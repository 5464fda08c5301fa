"""clip_grad_norm_ and clip_grad_value_."""
import math

import tessel as ts


def _grads(parameters):
    if isinstance(parameters, ts.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(t, p):
    # Flattened first: ts.norm(matrix, 2) would be a matrix norm.
    return ts.norm(t.reshape(-1), p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients in place so that their joint norm (as if concatenated
    into one vector) is at most max_norm. Returns that norm before clipping (a
    0-d tensor). Scaling uses the tensor norm, so nothing syncs with a device."""
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return ts.tensor(0.0)
    with ts.no_grad():
        if norm_type == math.inf:
            norms = [g.abs().amax() for g in grads]
            total = norms[0] if len(norms) == 1 else ts.stack(norms).amax()
        else:
            norms = [_vector_norm(g, norm_type) for g in grads]
            total = norms[0] if len(norms) == 1 else _vector_norm(ts.stack(norms), norm_type)
        if error_if_nonfinite and not bool(ts.isfinite(total)):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        # min(1, max_norm / (norm + 1e-6)), as PyTorch: gradients below the limit are left unchanged.
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.dtype) if g.dtype != coef.dtype else coef)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with ts.no_grad():
        for g in _grads(parameters):
            g.clamp_(min=-clip_value, max=clip_value)
