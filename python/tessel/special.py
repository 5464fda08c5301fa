"""ts.special: PyTorch's torch.special names (SciPy's scipy.special functions) on tessel's ops.

Most are the existing kernels under their special-function names (expit is sigmoid, gammaln is
lgamma, ...). erfcx, log_ndtr, ndtr, entr, xlog1py and multigammaln are composed here; erfcx
and log_ndtr compute in float64 (exp(x^2) erfc(x) below x = 26, its asymptotic series above)
and round once to the input's dtype, so they keep full precision where the plain formulas
overflow or underflow. The modified Bessel functions i0, i1 (and their exponentially scaled
i0e, i1e) sum their power series up to |x| = 30 and their asymptotic series beyond, in float64. Integer inputs compute in float32, as in PyTorch.
"""
import math

from . import _C
from ._C import Tensor
from ._math_port import logit, sinc, xlogy  # noqa: F401  (re-exported under ts.special)

__all__ = ["i0", "i0e", "i1", "i1e", "expit", "logit", "erf", "erfc", "erfinv", "erfcx", "ndtr", "log_ndtr", "gammaln", "digamma", "psi",
           "polygamma", "multigammaln", "entr", "xlogy", "xlog1py", "sinc", "exp2", "expm1", "log1p", "round",
           "logsumexp", "softmax", "log_softmax"]

_F32, _F64 = _C.dtype.float32, _C.dtype.float64


def _float(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"special.{op}(): expected a Tensor, got {type(x).__name__}")
    if x.dtype.is_complex:
        raise TypeError(f"special.{op}(): complex input is not supported")
    return x if x.dtype.is_floating_point else x.to(_F32)


_BESSEL_SWITCH = 30.0


def _bessel(x, nu, scaled):
    """I_nu(|x|) of order 0 or 1 in float64 (times exp(-|x|) when scaled); the caller puts the sign."""
    a = _C.abs(x.to(_F64))
    small = a <= _BESSEL_SWITCH
    # power series: sum_k (x^2 / 4)^k / (k! (k + nu)!), times (x / 2)^nu
    s = _C.where(small, a, _C.zeros_like(a))
    q = s * s * 0.25
    term = _C.ones_like(a) if nu == 0 else s * 0.5
    total = term
    for k in range(1, 90):  # (q / (k (k + nu))) falls below 1e-17 of the sum well before k = 90 at x = 30
        term = term * q / (k * (k + nu))
        total = total + term
    series = total * _C.exp(-s) if scaled else total
    # asymptotic: exp(x) / sqrt(2 pi x) sum_k t_k, t_k = t_{k-1} ((2k - 1)^2 - 4 nu^2) / (8 k x) (-1)
    t = _C.where(small, _C.full_like(a, _BESSEL_SWITCH), a)
    mu = 4.0 * nu * nu
    term = _C.ones_like(a)
    total = term
    for k in range(1, 25):
        term = term * (-(mu - (2 * k - 1) ** 2)) / (8.0 * k * t)
        total = total + term
    asym = total / _C.sqrt(2 * math.pi * t)
    if not scaled:
        asym = asym * _C.exp(t)
    return _C.where(small, series, asym)


def _bessel_op(op, input, nu, scaled):
    x = _float(input, op)
    out = _bessel(x, nu, scaled)
    if nu == 1:
        out = _C.where(x.to(_F64) < 0, -out, out)
    return _C.where(_C.isnan(x.to(_F64)), x.to(_F64), out).to(x.dtype)


def i0(input):
    """The modified Bessel function of the first kind of order 0."""
    return _bessel_op("i0", input, 0, False)


def i0e(input):
    """exp(-|x|) i0(x), finite for large |x|."""
    return _bessel_op("i0e", input, 0, True)


def i1(input):
    """The modified Bessel function of the first kind of order 1 (odd in x)."""
    return _bessel_op("i1", input, 1, False)


def i1e(input):
    """exp(-|x|) i1(x), finite for large |x|."""
    return _bessel_op("i1e", input, 1, True)


def expit(input):
    """The logistic function 1 / (1 + exp(-x)) (sigmoid)."""
    return _C.sigmoid(_float(input, "expit"))


def erf(input):
    """The error function."""
    return _C.erf(_float(input, "erf"))


def erfc(input):
    """1 - erf(x), without the cancellation."""
    return _C.erfc(_float(input, "erfc"))


def erfinv(input):
    """The inverse of erf on (-1, 1)."""
    return _C.erfinv(_float(input, "erfinv"))


# erfcx's asymptotic series sum_n (-1)^n (2n - 1)!! / (2 x^2)^n over x sqrt(pi): six terms are
# within 1e-15 of the value from x = 26 on, where exp(x^2) erfc(x) underflows in float64.
_ERFCX_SWITCH = 26.0


def erfcx(input):
    """The scaled complementary error function exp(x^2) erfc(x), finite for large x."""
    x = _float(input, "erfcx")
    d = x.to(_F64)
    big = d >= _ERFCX_SWITCH
    small = _C.where(big, _C.zeros_like(d), d)  # the unused branch stays finite
    # exp(x^2) with x^2 split exactly: hi (x to float32's 24 bits) squares without rounding,
    # so the rounding of x^2 (x^2 eps relative, 7e-14 at x = 25) does not reach the exponent
    hi = small.to(_F32).to(_F64)
    lo = small - hi
    direct = _C.exp(hi * hi) * _C.exp(lo * (hi + small)) * _C.erfc(small)
    t = _C.where(big, d, _C.full_like(d, _ERFCX_SWITCH))
    inv2 = 1.0 / (2.0 * t * t)
    series, term = _C.ones_like(d), _C.ones_like(d)
    for n in range(1, 6):
        term = term * (-(2 * n - 1)) * inv2
        series = series + term
    asym = series / (t * math.sqrt(math.pi))
    return _C.where(big, asym, direct).to(x.dtype)


def ndtr(input):
    """The standard normal CDF, Phi(x) = erfc(-x / sqrt(2)) / 2."""
    x = _float(input, "ndtr")
    return _C.erfc(-x * (1 / math.sqrt(2))) * 0.5


def log_ndtr(input):
    """log(Phi(x)), accurate far into the left tail (through erfcx) and near 0 for large x."""
    x = _float(input, "log_ndtr")
    d = x.to(_F64)
    left = d < -1.0
    # left tail: Phi(x) = erfcx(-x / sqrt 2) exp(-x^2 / 2) / 2
    z = _C.where(left, d, -_C.ones_like(d))
    tail = _C.log(erfcx(-z * (1 / math.sqrt(2))) * 0.5) - z * z * 0.5
    # elsewhere: log1p(-Phi(-x)), with Phi(-x) = erfc(x / sqrt 2) / 2 small for large x
    w = _C.where(left, _C.zeros_like(d), d)
    body = _C.log1p(-_C.erfc(w * (1 / math.sqrt(2))) * 0.5)
    return _C.where(left, tail, body).to(x.dtype)


def gammaln(input):
    """log|Gamma(x)| (lgamma)."""
    return _C.lgamma(_float(input, "gammaln"))


def digamma(input):
    """The logarithmic derivative of Gamma."""
    return _C.digamma(_float(input, "digamma"))


psi = digamma


def polygamma(n, input):
    """The n-th derivative of digamma."""
    return _C.polygamma(n, _float(input, "polygamma"))


def multigammaln(input, p):
    """The multivariate log-gamma of dimension p: sum_j lgamma(x - j/2), j < p, plus
    p (p - 1) / 4 log(pi). Every element must exceed (p - 1) / 2."""
    x = _float(input, "multigammaln")
    if p < 1:
        raise ValueError(f"special.multigammaln(): p must be >= 1, got {p}")
    if x.numel() and float(x.min()) <= (p - 1) / 2:
        raise ValueError(f"special.multigammaln(): all elements must be greater than (p - 1) / 2 = {(p - 1) / 2}")
    out = _C.full_like(x, p * (p - 1) / 4 * math.log(math.pi))
    for j in range(p):
        out = out + _C.lgamma(x - j / 2)
    return out


def entr(input):
    """-x log(x) elementwise: 0 at 0, -inf for negative x, NaN for NaN."""
    x = _float(input, "entr")
    pos = x > 0
    val = -x * _C.log(_C.where(pos, x, _C.ones_like(x)))
    out = _C.where(pos, val, _C.where(x == 0, _C.zeros_like(x), _C.full_like(x, -math.inf)))
    return _C.where(_C.isnan(x), x, out)


def xlog1py(input, other):
    """input * log1p(other), 0 where input is 0 (unless other is NaN)."""
    x = input if isinstance(input, Tensor) else _C.tensor(input)
    y = other if isinstance(other, Tensor) else _C.tensor(other)
    yf = y if y.dtype.is_floating_point else y.to(_F32)
    out = x * _C.log1p(yf)
    return _C.where(_C.logical_and(x == 0, _C.logical_not(_C.isnan(y))), _C.zeros_like(out), out)


def exp2(input):
    """2 ** x."""
    return _C.exp2(_float(input, "exp2"))


def expm1(input):
    """exp(x) - 1, accurate near 0."""
    return _C.expm1(_float(input, "expm1"))


def log1p(input):
    """log(1 + x), accurate near 0."""
    return _C.log1p(_float(input, "log1p"))


def round(input, *, decimals=0):  # noqa: A001  (torch.special.round)
    """Rounds half to even (at `decimals` places)."""
    return _C.round(input, decimals=decimals) if decimals else _C.round(input)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) over dim, without overflow."""
    return _C.logsumexp(input, dim, keepdim)


def softmax(input, dim, *, dtype=None):
    """softmax along dim (in `dtype` when given)."""
    from .nn import functional as F
    return F.softmax(input if dtype is None else input.to(dtype), dim)


def log_softmax(input, dim, *, dtype=None):
    """log_softmax along dim (in `dtype` when given)."""
    from .nn import functional as F
    return F.log_softmax(input if dtype is None else input.to(dtype), dim)
