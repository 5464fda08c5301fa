"""PyTorch spellings that ported training scripts use and _C does not bind:
alpha= of add/sub, rounding_mode= of div, the two-tensor max/min, f-string
formatting of scalar tensors, finfo/iinfo, ts.compile, the stacking helpers,
std_mean/var_mean, small helpers (trace, equal, frac), the legacy typed-tensor
constructors (ts.FloatTensor, ...) and x.type() strings. All are compositions
of existing ops; tessel/__init__.py re-exports __all__ and calls install().
"""
import builtins
import numbers
import sys

from . import _C
from ._C import Tensor
from ._size import Size

__all__ = [
    "add", "sub", "subtract", "max", "min", "div", "divide", "true_divide", "multiply", "frac", "compile",
    "set_float32_matmul_precision", "get_float32_matmul_precision", "finfo", "iinfo", "std_mean", "var_mean",
    "hstack", "vstack", "row_stack", "column_stack", "dstack", "atleast_1d", "atleast_2d", "atleast_3d", "trace",
    "array_equal", "clone", "t", "detach", "randint_like", "cosine_similarity", "pairwise_distance",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled", "FloatTensor", "DoubleTensor",
    "HalfTensor", "BFloat16Tensor", "ByteTensor", "CharTensor", "ShortTensor", "IntTensor", "LongTensor", "BoolTensor",
]

# The C++ bindings these wrappers extend, captured before install() replaces the methods.
_add, _sub, _max, _min, _div = _C.add, _C.sub, _C.max, _C.min, _C.div
_T_add, _T_add_, _T_sub, _T_sub_ = Tensor.add, Tensor.add_, Tensor.sub, Tensor.sub_
_T_max, _T_min, _T_div, _T_div_, _T_type, _T_init = (Tensor.max, Tensor.min, Tensor.div, Tensor.div_, Tensor.type,
                                                      Tensor.__init__)


def _integral(dtype):
    return not (dtype.is_floating_point or dtype.is_complex)


def _scaled_other(op, input, other, alpha):
    # alpha multiplies `other`; a float alpha with an integer result would be
    # truncated, so it is refused as PyTorch does.
    if isinstance(alpha, Tensor) or not isinstance(alpha, numbers.Number):
        raise TypeError(f"{op}(): alpha must be a number, got {type(alpha).__name__}")
    out = _C.result_type(input, other)
    if _integral(out) and not isinstance(alpha, numbers.Integral):
        raise TypeError(f"{op}(): alpha={alpha!r} must be an integer for an integer result ({out})")
    if out == _C.dtype.bool and not isinstance(alpha, builtins.bool):
        raise TypeError(f"{op}(): alpha must be a bool for boolean tensors, got {alpha!r}")
    if isinstance(other, Tensor) and other.dtype != out:
        other = other.to(out)  # scale in the result's dtype (float64 input: no float32 rounding of alpha * other)
    return other * alpha


def add(input, other, *, alpha=1):
    """input + alpha * other (broadcast); `alpha` is keyword-only, as in PyTorch."""
    return _add(input, other if alpha == 1 else _scaled_other("add", input, other, alpha))


def sub(input, other, *, alpha=1):
    """input - alpha * other (broadcast)."""
    return _sub(input, other if alpha == 1 else _scaled_other("sub", input, other, alpha))


subtract = sub


def _add_m(self, other, *, alpha=1):
    return _T_add(self, other if alpha == 1 else _scaled_other("add", self, other, alpha))


def _add_m_(self, other, *, alpha=1):
    return _T_add_(self, other if alpha == 1 else _scaled_other("add_", self, other, alpha))


def _sub_m(self, other, *, alpha=1):
    return _T_sub(self, other if alpha == 1 else _scaled_other("sub", self, other, alpha))


def _sub_m_(self, other, *, alpha=1):
    return _T_sub_(self, other if alpha == 1 else _scaled_other("sub_", self, other, alpha))


def max(input, dim=None, keepdim=False):  # noqa: A001  (PyTorch's name)
    """max(input), max(input, dim, keepdim) -> (values, indices), or max(input, other): the elementwise maximum."""
    if isinstance(dim, Tensor):
        return _C.maximum(input, dim)
    return _max(input, dim, keepdim)


def min(input, dim=None, keepdim=False):  # noqa: A001
    """min(input), min(input, dim, keepdim) -> (values, indices), or min(input, other): the elementwise minimum."""
    if isinstance(dim, Tensor):
        return _C.minimum(input, dim)
    return _min(input, dim, keepdim)


def _max_m(self, dim=None, keepdim=False):
    return _C.maximum(self, dim) if isinstance(dim, Tensor) else _T_max(self, dim, keepdim)


def _min_m(self, dim=None, keepdim=False):
    return _C.minimum(self, dim) if isinstance(dim, Tensor) else _T_min(self, dim, keepdim)


def _check_mode(rounding_mode):
    if rounding_mode not in (None, "trunc", "floor"):
        raise ValueError(f"div(): rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


def _negative(x):
    return x < 0 if isinstance(x, Tensor) else _C.tensor(x < 0)


def _trunc_div(input, other):
    if _integral(_C.result_type(input, other)):
        # floor division rounds down; where a remainder is left and the signs differ, trunc is one more
        q = _C.floor_divide(input, other)
        fix = (_C.remainder(input, other) != 0) & (_negative(input) != _negative(other))
        return q + fix.to(q.dtype)
    return _C.trunc(_C.true_divide(input, other))


def div(input, other, *, rounding_mode=None):
    """input / other: true division, or rounded with rounding_mode='trunc' (toward zero) / 'floor'."""
    _check_mode(rounding_mode)
    if rounding_mode is None:
        return _div(input, other)
    if rounding_mode == "floor":
        return _C.floor_divide(input, other)
    return _trunc_div(input, other)


divide = div


def _div_m(self, other, *, rounding_mode=None):
    return div(self, other, rounding_mode=rounding_mode)


def _div_m_(self, other, *, rounding_mode=None):
    _check_mode(rounding_mode)
    if rounding_mode is None:
        return _T_div_(self, other)
    if rounding_mode == "floor":
        return self.floor_divide_(other)
    return self.copy_(_trunc_div(self, other))


def true_divide(input, other):
    """input / other, always a floating-point result (an alias of div)."""
    return _C.true_divide(input, other)


def multiply(input, other):
    """An alias of mul."""
    return _C.mul(input, other)


_FRAC = []


def _frac_function():
    from .autograd import Function

    class _Frac(Function):
        """frac through the one-pass "frac" kernel (kernels/cpu/unary.cpp); its gradient is 1."""

        @staticmethod
        def forward(ctx, a):
            return _C.call_op("frac", [a])

        @staticmethod
        def backward(ctx, g):
            return g

    return _Frac


def frac(input):
    """The fractional part, input - trunc(input), with input's sign (exact in floating point);
    its gradient is 1, as trunc's is 0. Floating inputs only, as in PyTorch."""
    r = _C._call_plain("frac", input)  # a CPU float tensor, no gradient
    if r is not None:
        return r
    dt = input.dtype
    if not dt.is_floating_point:
        raise TypeError(f"frac: expects a floating tensor, got {dt}")
    if not input.is_cpu or _C._onnx.tracing():  # the kernel is called by name, which export does not trace
        return input - input.trunc()
    if input.requires_grad and _C._autograd.is_grad_enabled():
        if not _FRAC:
            _FRAC.append(_frac_function())
        return _FRAC[0].apply(input)
    return _C.call_op("frac", [input])


def _frac_(self):
    return self.copy_(frac(self))


def _format(self, spec):
    # f"{loss:.4f}" works on 0-d tensors (through item()), as in PyTorch; other
    # tensors accept only the empty spec.
    if self.dim() == 0:
        return format(self.item(), spec)
    return object.__format__(self, spec)


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None, options=None,  # noqa: A001
            disable=False):
    """torch.compile's signature; tessel has no graph compiler, so the model or function comes back unchanged
    (calls run eagerly, as torch.compile(disable=True) does). Usable as a decorator with or without arguments."""
    if mode not in (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
        raise ValueError(f"compile(): unknown mode {mode!r}")
    if model is None:
        return lambda m: m
    if not callable(model):
        raise TypeError(f"compile(): model must be a callable (a Module or a function), got {type(model).__name__}")
    return model


_matmul_precision = "highest"


def set_float32_matmul_precision(precision):
    """Accepts 'highest', 'high' or 'medium' as PyTorch does; tessel's CPU matmul always computes float32
    products in float32, so the setting is recorded and returned by get_float32_matmul_precision only."""
    global _matmul_precision
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision(): precision must be 'highest', 'high' or 'medium', "
                         f"got {precision!r}")
    _matmul_precision = precision


def get_float32_matmul_precision():
    return _matmul_precision


_deterministic = False


def use_deterministic_algorithms(mode, *, warn_only=False):
    """Recorded only: tessel's CPU kernels already give the same results run to run for the same inputs and
    thread count (no atomics-based reductions)."""
    global _deterministic
    if not isinstance(mode, builtins.bool):
        raise TypeError(f"use_deterministic_algorithms(): mode must be a bool, got {type(mode).__name__}")
    _deterministic = mode


def are_deterministic_algorithms_enabled():
    return _deterministic


def _as_dtype(dtype, op, default):
    if dtype is None:
        return default
    if isinstance(dtype, type) and issubclass(dtype, _LegacyTensor):
        return dtype.dtype
    if not isinstance(dtype, _C.dtype):
        raise TypeError(f"{op}(): expected a tessel dtype, got {dtype!r}")
    return dtype


_FINFO = {  # name: (bits, eps, max, smallest normal, decimal digits of precision)
    "float16": (16, 2.0 ** -10, 65504.0, 2.0 ** -14, 3),
    "bfloat16": (16, 2.0 ** -7, (2 - 2.0 ** -7) * 2.0 ** 127, 2.0 ** -126, 2),
    "float32": (32, 2.0 ** -23, (2 - 2.0 ** -23) * 2.0 ** 127, 2.0 ** -126, 6),
    "float64": (64, 2.0 ** -52, sys.float_info.max, 2.0 ** -1022, 15),
}


class finfo:
    """Machine limits of a floating-point dtype (float16, bfloat16, float32, float64; a complex dtype gives its
    real part's): bits, eps, max, min, tiny (= smallest_normal), resolution, dtype."""

    def __init__(self, type=None):  # noqa: A002  (PyTorch's argument name)
        d = _as_dtype(type, "finfo", _C.get_default_dtype())
        real = {"complex64": _C.dtype.float32, "complex128": _C.dtype.float64}.get(d.name, d)
        if not real.is_floating_point:
            raise TypeError(f"finfo(): {d} is not a floating-point dtype (use iinfo for integers)")
        # IEEE (and bfloat16) constants, so finfo needs no NumPy: bits, eps, max, smallest normal, decimal digits.
        self.bits, self.eps, self.max, self.tiny, digits = _FINFO[real.name]
        self.resolution = 10.0 ** -digits
        self.min = -self.max
        self.smallest_normal = self.tiny
        self.dtype = real.name

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:g}, max={self.max:g}, eps={self.eps:g}, "
                f"smallest_normal={self.tiny:g}, tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype (bool excluded, as in PyTorch): bits, min, max, dtype."""

    def __init__(self, type):  # noqa: A002
        d = _as_dtype(type, "iinfo", None)
        if not _integral(d) or d == _C.dtype.bool:
            raise TypeError(f"iinfo(): {d} is not an integer dtype")
        self.bits = 8 * d.itemsize
        self.min = -(1 << (self.bits - 1)) if d.is_signed else 0
        self.max = (1 << (self.bits - 1)) - 1 if d.is_signed else (1 << self.bits) - 1
        self.dtype = d.name

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def _stat_mean(stat, input, dim, correction, keepdim, unbiased):
    if isinstance(dim, bool):  # PyTorch's (input, unbiased) overload
        dim, unbiased = None, dim
    if unbiased is not None:
        correction = 1 if unbiased else 0
    if dim is None:
        return stat(input, correction=correction), input.mean()
    return stat(input, dim, correction=correction, keepdim=keepdim), input.mean(dim, keepdim=keepdim)


def std_mean(input, dim=None, *, correction=1, keepdim=False, unbiased=None):
    """(std, mean) over `dim` (all dims when None); std_mean(input, unbiased) as in PyTorch."""
    return _stat_mean(Tensor.std, input, dim, correction, keepdim, unbiased)


def var_mean(input, dim=None, *, correction=1, keepdim=False, unbiased=None):
    """(var, mean) over `dim` (all dims when None); var_mean(input, unbiased) as in PyTorch."""
    return _stat_mean(Tensor.var, input, dim, correction, keepdim, unbiased)


def _tensors(op, tensors):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}(): expects a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}(): expects a non-empty list of tensors")
    return tensors


def atleast_1d(*tensors):
    """Each tensor viewed with at least 1 dim (a 0-d tensor becomes [1])."""
    out = [t.reshape(1) if t.dim() == 0 else t for t in _flat(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: [] -> [1, 1], [n] -> [1, n]."""
    out = [t.reshape(1, -1) if t.dim() < 2 else t for t in _flat(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: [] -> [1, 1, 1], [n] -> [1, n, 1], [m, n] -> [m, n, 1] (NumPy's rule)."""
    def one(t):
        if t.dim() == 0:
            return t.reshape(1, 1, 1)
        if t.dim() == 1:
            return t.reshape(1, -1, 1)
        return t.unsqueeze(-1) if t.dim() == 2 else t
    out = [one(t) for t in _flat(tensors)]
    return out[0] if len(out) == 1 else tuple(out)


def _flat(tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"atleast_nd(): expects tensors, got {type(t).__name__}")
    return list(tensors)


def hstack(tensors):
    """Concatenates along dim 1 (dim 0 for 1-d tensors), as numpy.hstack."""
    ts_ = [atleast_1d(t) for t in _tensors("hstack", tensors)]
    return _C.cat(ts_, 0 if ts_[0].dim() == 1 else 1)


def vstack(tensors):
    """Stacks rows: 1-d tensors become rows [1, n], then concatenated along dim 0."""
    return _C.cat([atleast_2d(t) for t in _tensors("vstack", tensors)], 0)


row_stack = vstack


def column_stack(tensors):
    """0-d and 1-d tensors become columns [n, 1]; everything is concatenated along dim 1."""
    cols = [t.reshape(-1, 1) if t.dim() <= 1 else t for t in _tensors("column_stack", tensors)]
    return _C.cat(cols, 1)


def dstack(tensors):
    """Concatenates along dim 2 after atleast_3d."""
    return _C.cat([atleast_3d(t) for t in _tensors("dstack", tensors)], 2)


def trace(input):
    """The sum of the main diagonal of a 2-d tensor."""
    if input.dim() != 2:
        raise ValueError(f"trace(): expects a 2-d tensor, got shape {list(input.shape)}")
    return input.diagonal().sum()


def array_equal(input, other):
    """True when both tensors have the same shape and equal elements (NaN is unequal to itself):
    torch.equal's meaning, NumPy's name (ts.equal is the array API's elementwise comparison)."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"array_equal(): expects two tensors, got {type(input).__name__} and {type(other).__name__}")
    return tuple(input.shape) == tuple(other.shape) and builtins.bool((input == other).all().item())


def clone(input, *, memory_format=None):
    return input.clone()


def t(input):
    return input.t()


def detach(input):
    return input.detach()


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """randint over input's shape: randint_like(x, high) or randint_like(x, low, high); input's dtype unless given."""
    if high is None:
        low, high = 0, low
    return _C.randint(low, high, tuple(input.shape), generator=generator,
                      dtype=input.dtype if dtype is None else dtype,
                      device=input.device if device is None else device, requires_grad=requires_grad)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    from .nn import functional as F
    return F.cosine_similarity(x1, x2, dim=dim, eps=eps)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    from .nn import functional as F
    return F.pairwise_distance(x1, x2, p, eps, keepdim)


# ------------------------------------------------ in-place fills and samplers

def fill_diagonal_(self, fill_value, wrap=False):
    """Writes fill_value on the main diagonal (all dims equal for more than 2 dims); with wrap=True a tall
    matrix's diagonal continues below the first square, as numpy.fill_diagonal(wrap=True)."""
    if self.dim() < 2:
        raise ValueError(f"fill_diagonal_(): expects at least 2 dims, got {self.dim()}")
    if self.dim() > 2 and len(set(self.shape)) != 1:
        raise ValueError(f"fill_diagonal_(): all dims must be equal for more than 2 dims, got {list(self.shape)}")
    rows, cols = self.shape[0], self.shape[1]
    if self.dim() == 2 and wrap and rows > cols:
        flat = _C.arange(0, rows * cols, cols + 1)  # numpy's flat stride, continued past the first square
        idx = (_C.floor_divide(flat, cols), _C.remainder(flat, cols))
    else:
        i = _C.arange(builtins.min(self.shape))
        idx = (i,) * self.dim()
    self[idx] = fill_value
    return self


def index_fill_(self, dim, index, value):
    """Sets the slices self.select(dim, i) for each i in index to value."""
    if not isinstance(index, Tensor) or index.dim() > 1 or not _integral(index.dtype):
        raise TypeError("index_fill_(): index must be a 0-d or 1-d integer tensor")
    d = dim + self.dim() if dim < 0 else dim
    if not 0 <= d < builtins.max(self.dim(), 1):
        raise IndexError(f"index_fill_(): dim {dim} out of range for a {self.dim()}-d tensor")
    self[(slice(None),) * d + (index.reshape(-1),)] = value
    return self


def index_fill(self, dim, index, value):
    return index_fill_(self.clone(), dim, index, value)


def random_(self, from_=0, to=None, *, generator=None):
    """Integers uniform in [from_, to - 1]; random_(to) draws from [0, to - 1]; random_() from
    [0, 2**mantissa] for floats (exactly representable) or the dtype's range for integers."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        bits = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}.get(self.dtype.name)
        if bits is not None:
            to = 2 ** bits + 1
        elif self.dtype.name == "bool":
            to = 2
        else:  # the dtype's non-negative range; int64 stops one short of its max (randint's bound is an int64)
            to = iinfo(self.dtype).max + (0 if self.dtype.name == "int64" else 1)
    if from_ >= to:
        raise ValueError(f"random_(): expects from < to, got from={from_}, to={to}")
    with _no_grad():
        return self.copy_(_C.randint(from_, to, tuple(self.shape), generator=generator, dtype=_C.dtype.int64))


def exponential_(self, lambd=1.0, *, generator=None):
    """Samples of the exponential distribution with rate lambd: -log(1 - U) / lambd."""
    if lambd <= 0:
        raise ValueError(f"exponential_(): lambd must be positive, got {lambd}")
    if not self.dtype.is_floating_point:
        raise TypeError(f"exponential_(): expects a floating-point tensor, got {self.dtype}")
    u = _C.rand(tuple(self.shape), generator=generator, dtype=_C.dtype.float64)
    with _no_grad():
        return self.copy_(-_C.log1p(-u) / lambd)


def _no_grad():
    from .autograd import no_grad
    return no_grad()


# ------------------------------------------------ legacy typed-tensor names

class _LegacyMeta(type):
    # isinstance(x, ts.FloatTensor) asks about the dtype, as in PyTorch.
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls):
        return f"<class 'tessel.{cls.__name__}'>"


def _legacy_build(dtype, args, op):
    if not args:
        return _C.empty((0,), dtype=dtype)
    if builtins.all(isinstance(a, numbers.Integral) and not isinstance(a, builtins.bool) for a in args):
        return _C.empty(tuple(args), dtype=dtype)  # Tensor(2, 3): an uninitialized [2, 3]
    if len(args) == 1:
        a = args[0]
        if isinstance(a, Tensor):
            return a if a.dtype == dtype else a.to(dtype)
        if isinstance(a, Size):
            return _C.empty(tuple(a), dtype=dtype)  # Tensor(x.shape): uninitialized, of that shape
        if hasattr(a, "__len__") and not isinstance(a, (str, bytes)):
            return _C.tensor(a, dtype=dtype)
    raise TypeError(f"{op}(): expects sizes (ints), a sequence or a tensor, got "
                    f"({', '.join(type(a).__name__ for a in args)})")


class _LegacyTensor(metaclass=_LegacyMeta):
    dtype = None

    def __new__(cls, *args, device=None):
        if device is not None and _C.device(device).type != "cpu":
            raise RuntimeError(f"{cls.__name__}(): only CPU tensors exist in this build")
        return _legacy_build(cls.dtype, args, cls.__name__)


def _legacy(name, dtype):
    return _LegacyMeta(name, (_LegacyTensor,), {"dtype": dtype, "__doc__": f"Legacy constructor: {dtype} tensors."})


FloatTensor = _legacy("FloatTensor", _C.dtype.float32)
DoubleTensor = _legacy("DoubleTensor", _C.dtype.float64)
HalfTensor = _legacy("HalfTensor", _C.dtype.float16)
BFloat16Tensor = _legacy("BFloat16Tensor", _C.dtype.bfloat16)
ByteTensor = _legacy("ByteTensor", _C.dtype.uint8)
CharTensor = _legacy("CharTensor", _C.dtype.int8)
ShortTensor = _legacy("ShortTensor", _C.dtype.int16)
IntTensor = _legacy("IntTensor", _C.dtype.int32)
LongTensor = _legacy("LongTensor", _C.dtype.int64)
BoolTensor = _legacy("BoolTensor", _C.dtype.bool)
_LEGACY = {c.dtype: c for c in (FloatTensor, DoubleTensor, HalfTensor, BFloat16Tensor, ByteTensor, CharTensor,
                                ShortTensor, IntTensor, LongTensor, BoolTensor)}
_LEGACY_BY_NAME = {c.__name__: c for c in _LEGACY.values()}


def _tensor_init(self, *args, **kwargs):
    # ts.Tensor(data) / ts.Tensor(2, 3) build a default-dtype tensor as torch.Tensor
    # does; a single Tensor argument keeps the handle constructor that
    # subclasses (nn.Parameter) rely on.
    if len(args) == 1 and not kwargs and isinstance(args[0], Tensor):
        return _T_init(self, args[0])
    if kwargs:
        raise TypeError(f"Tensor(): unexpected keyword arguments {sorted(kwargs)}")
    return _T_init(self, _legacy_build(_C.get_default_dtype(), args, "Tensor"))


def _type(self, dtype=None, non_blocking=False, **kwargs):
    """x.type() -> 'tessel.FloatTensor'; x.type(ts.float64), x.type(ts.DoubleTensor) or
    x.type('torch.DoubleTensor') -> cast."""
    if dtype is None:
        cls = _LEGACY.get(self.dtype)
        return f"tessel.{cls.__name__}" if cls is not None else f"tessel.{self.dtype.name}"
    if isinstance(dtype, str):
        name = dtype.rsplit(".", 1)[-1]
        if name not in _LEGACY_BY_NAME:
            raise ValueError(f"type(): unknown tensor type {dtype!r}")
        dtype = _LEGACY_BY_NAME[name].dtype
    elif isinstance(dtype, type) and issubclass(dtype, _LegacyTensor):
        dtype = dtype.dtype
    return _T_type(self, dtype)


def _get_device(self):
    """-1 for CPU tensors (PyTorch's value); the CUDA ordinal otherwise."""
    return -1 if self.device.type == "cpu" else (self.device.index or 0)


def _cuda(self, device=None, non_blocking=False):
    return self.to("cuda" if device is None else device)


def install():
    Tensor.add, Tensor.add_, Tensor.sub, Tensor.sub_ = _add_m, _add_m_, _sub_m, _sub_m_
    Tensor.subtract, Tensor.subtract_ = _sub_m, _sub_m_
    Tensor.max, Tensor.min = _max_m, _min_m
    Tensor.div, Tensor.div_ = _div_m, _div_m_
    Tensor.divide, Tensor.divide_ = _div_m, _div_m_
    Tensor.true_divide = true_divide
    Tensor.multiply = multiply
    Tensor.frac = frac
    Tensor.frac_ = _frac_
    Tensor.multiply_ = Tensor.mul_
    Tensor.__format__ = _format
    Tensor.__init__ = _tensor_init
    Tensor.type = _type
    extra = {"is_cuda": property(lambda self: self.device.type == "cuda"),
             "is_cpu": property(lambda self: self.device.type == "cpu"),
             "get_device": _get_device, "cuda": _cuda, "equal": array_equal, "ndimension": lambda self: self.dim(),
             "trace": trace, "fill_diagonal_": fill_diagonal_, "index_fill_": index_fill_,
             "index_fill": index_fill, "random_": random_, "exponential_": exponential_}
    for name, fn in extra.items():
        if not hasattr(Tensor, name):  # never shadow a C++ binding
            setattr(Tensor, name, fn)
