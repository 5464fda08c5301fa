"""Activations and normalizations composed from elementwise ops and reductions."""
import tessel as ts
from tessel import _C

# rms_norm's default eps, by dtype name: the epsilon of the dtype it computes in, as PyTorch's
# kernels take it (float32's for float16/bfloat16, not their own 2^-10/2^-7, which its docs name
# and which shifted tiny-magnitude rows by up to 2 bfloat16 ulps against PyTorch's results)
_EPS = {"float16": 1.1920928955078125e-07, "bfloat16": 1.1920928955078125e-07, "float32": 1.1920928955078125e-07,
        "float64": 2.220446049250313e-16}


def _inplace(input, fn, inplace):
    """fn(input), written into input when inplace. fn reads a copy when autograd
    records: an op that saved `input` itself would see it overwritten by copy_
    and fail in backward."""
    if not inplace:
        return fn(input)
    src = input.clone() if input.requires_grad and ts.is_grad_enabled() else input
    return input.copy_(fn(src))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return input.clamp_(min_val, max_val) if inplace else _C.clamp(input, min_val, max_val)


def relu6(input, inplace=False):
    return input.clamp_(0.0, 6.0) if inplace else _C.clamp(input, 0.0, 6.0)


def hardsigmoid(input, inplace=False):
    return _inplace(input, _C.hardsigmoid, inplace)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _inplace(input, _C.hardswish, inplace)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _inplace(input, lambda x: x * _C.tanh(_C.softplus(x)), inplace)


def prelu(input, weight):
    """max(0, x) + weight * min(0, x), weight of 1 or C (= input.shape[1]) values."""
    n = weight.numel()
    if weight.dim() > 1:
        raise ValueError(f"prelu: weight must be a scalar or 1D tensor, got {weight.dim()}D")
    if n != 1:
        if input.dim() < 2:
            raise ValueError(f"prelu: weight has {n} values but a {input.dim()}D input has no channel dim")
        if input.shape[1] != n:
            raise ValueError(f"prelu: mismatch of parameter numbers and input channel size: weight has {n} "
                             f"values, input has {input.shape[1]} channels")
        w = weight.reshape(n, *([1] * (input.dim() - 2)))
    else:
        w = weight.reshape(())
    return _C.where(input > 0, input, w * input)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    denom = _C.clamp(_C.norm(input, p, dim, True), eps, None)
    result = input / denom
    if out is not None:
        out.copy_(result)
        return out
    return result


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along dim, after broadcasting."""
    shape = ts.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    a, b = x1.broadcast_to(shape), x2.broadcast_to(shape)
    na = _C.clamp(_C.norm(a, 2, dim, False), eps, None)
    nb = _C.clamp(_C.norm(b, 2, dim, False), eps, None)
    return (a * b).sum(dim) / (na * nb)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the trailing normalized_shape dims) + eps) * weight."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    if k == 0 or tuple(input.shape[input.dim() - k:]) != normalized_shape or input.dim() < k:
        raise ValueError(f"rms_norm: expected input with shape [*, {', '.join(map(str, normalized_shape))}], "
                         f"got {list(input.shape)}")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise ValueError(f"rms_norm: weight shape {tuple(weight.shape)} does not match normalized_shape "
                         f"{normalized_shape}")
    if eps is None:
        eps = _EPS.get(str(input.dtype).rsplit(".", 1)[-1], _EPS["float32"])
    # float32/float64 on the CPU: one kernel each way (None where it does not apply)
    out = _C._nn._rms_norm_fused(input, k, weight, float(eps))
    if out is not None:
        return out
    low = input.dtype in (ts.float16, ts.bfloat16)
    x = input.to(ts.float32) if low else input  # accumulate half precision in float32
    dims = tuple(range(input.dim() - k, input.dim()))
    out = x * _C.rsqrt((x * x).mean(dims, keepdim=True) + eps)
    if low:
        out = out.to(input.dtype)
    return out * weight if weight is not None else out


def _feature_dropout(input, p, training, inplace, op):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if input.dim() < 2:
        raise ValueError(f"{op}: expected input with a batch and a channel dim, got {input.dim()}D")
    if not training or p == 0.0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    if p == 1.0:
        scale = ts.zeros(*shape, dtype=input.dtype, device=input.device)
    else:
        scale = ts.bernoulli(ts.full(shape, 1.0 - p, dtype=input.dtype, device=input.device)) / (1.0 - p)
    return _inplace(input, lambda x: x * scale, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) input."""
    return _feature_dropout(input, p, training, inplace, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels (the same (N, C) mask over all positions), scaling the rest by 1/(1-p)."""
    return _feature_dropout(input, p, training, inplace, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, "dropout3d")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    if not inplace and not (input.requires_grad and ts.is_grad_enabled()):
        return _C.elu(input, _SELU_ALPHA).mul_(_SELU_SCALE)  # no second output buffer
    return _inplace(input, lambda x: _C.elu(x, _SELU_ALPHA) * _SELU_SCALE, inplace)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    if alpha == 1:  # elu itself: one op instead of three (1.55x PyTorch's time at 10^3 elements)
        return _inplace(input, lambda x: _C.elu(x, 1.0), inplace)
    return _inplace(input, lambda x: _C.elu(x / alpha, 1.0) * alpha, inplace)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -_C.softplus(-input)


def softsign(input):
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input):
    """x - tanh(x)."""
    return input - _C.tanh(input)


def _check_lambd(lambd, op):
    if lambd < 0:
        raise ValueError(f"{op}: lambd must be non-negative, got {lambd}")


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    _check_lambd(lambd, "softshrink")
    return _C.where(input > lambd, input - lambd, _C.where(input < -lambd, input + lambd, input * 0))


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    _check_lambd(lambd, "hardshrink")
    return _C.where(input.abs() > lambd, input, input * 0)


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else value."""
    return _inplace(input, lambda x: _C.where(x > threshold, x, _C.full_like(x, value)), inplace)


def softmin(input, dim=None, dtype=None):
    """softmax(-x) along dim."""
    from .. import functional as F
    return F.softmax(-input, dim, dtype=dtype)
