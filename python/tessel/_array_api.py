"""The Python array API standard (2024.12) on the `tessel` namespace itself, as NumPy 2 does.

    import tessel as ts
    xp = x.__array_namespace__()      # the tessel module
    xp.concat([x, y], axis=0); xp.permute_dims(x, (1, 0)); xp.unique_counts(x)

This module holds the namespace parts (version, inspection, dtype functions, creation,
the Tensor's standard methods); _array_api_ops.py the functions by family. Where PyTorch
and the standard share a name the wrapper accepts both spellings (`dim`/`axis`,
`keepdim`/`keepdims`, `diagonal`/`k`, ...) and keeps PyTorch's defaults; the names whose
PyTorch meaning cannot coexist with the standard's keep PyTorch's (docs/array-api.md,
"Known deviations").
"""
import builtins
import functools
import sys

from . import _C, _port
from ._C import Tensor

__all__ = [
    "__array_api_version__", "__array_namespace_info__", "isdtype", "result_type", "can_cast", "astype",
    "finfo", "iinfo", "asarray", "eye", "linspace", "from_dlpack",
]

__array_api_version__ = "2024.12"

_D = _C.dtype
# The standard's dtypes (float16/bfloat16 are tessel's extras).
_STD = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
        "complex64", "complex128")
_UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
_KINDS = {
    "bool": ("bool",),
    "signed integer": ("int8", "int16", "int32", "int64"),
    "unsigned integer": _UNSIGNED,
    "integral": ("int8", "int16", "int32", "int64") + _UNSIGNED,
    "real floating": ("float16", "bfloat16", "float32", "float64"),
    "complex floating": ("complex64", "complex128"),
    "numeric": ("int8", "int16", "int32", "int64") + _UNSIGNED + ("float16", "bfloat16", "float32", "float64",
                                                                 "complex64", "complex128"),
}
_CPU = _C.device("cpu")


def _dtype(name):
    return getattr(_D, name)


def _check_device(device, op):
    if device is None:
        return
    d = device if isinstance(device, _C.device) else _C.device(str(device))
    if d.type != "cpu":
        raise ValueError(f"[{op}] device {device!r} is not available (tessel's array API devices: cpu)")


def _placed(fn):
    """fn computed on the CPU, then moved to `device` when one is given (the core's .to() validates it, so
    plugin devices and, later, CUDA work as they do for the PyTorch-style functions)."""
    @functools.wraps(fn)
    def wrapper(*args, device=None, **kwargs):
        out = fn(*args, **kwargs)
        return out if device is None else out.to(device)
    return wrapper


class __array_namespace_info__:  # noqa: N801  (the standard's name)
    """Inspection of the namespace: ts.__array_namespace_info__().dtypes(kind="integral")."""

    def capabilities(self):
        # boolean indexing and nonzero give data-dependent shapes; tessel computes them eagerly
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self):
        return _CPU

    def devices(self):
        return [_CPU]

    def default_dtypes(self, *, device=None):
        _check_device(device, "default_dtypes")
        f = _C.get_default_dtype()
        return {"real floating": f, "complex floating": _D.complex128 if f == _D.float64 else _D.complex64,
                "integral": _D.int64, "indexing": _D.int64}

    def dtypes(self, *, device=None, kind=None):
        _check_device(device, "dtypes")
        if kind is None:
            return {n: _dtype(n) for n in _STD}
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        out = {}
        for k in kinds:
            if k not in _KINDS:
                raise ValueError(f"[dtypes] unknown kind {k!r}; expected one of {sorted(_KINDS)}")
            out.update({n: _dtype(n) for n in _KINDS[k] if n in _STD})
        return out


# ---------------------------------------------------------------- data type functions

def isdtype(dtype, kind):
    """Whether `dtype` is of `kind`: a dtype, one of the standard's kind names, or a tuple of them."""
    if not isinstance(dtype, _D):
        raise TypeError(f"[isdtype] expected a tessel dtype, got {dtype!r}")
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, _D):
        return dtype == kind
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"[isdtype] unknown kind {kind!r}; expected one of {sorted(_KINDS)}")
        return dtype.name in _KINDS[kind]
    raise TypeError(f"[isdtype] kind must be a dtype, a kind name or a tuple of them, got {kind!r}")


def _dtype_of(x, op):
    if isinstance(x, Tensor):
        return x.dtype
    if isinstance(x, _D):
        return x
    raise TypeError(f"[{op}] expected a tensor or a dtype, got {type(x).__name__}")


def result_type(*arrays_and_dtypes):
    """The standard's result type of tensors, dtypes and Python scalars (scalars take the tensors' kind).
    Two tensors keep PyTorch's rule (a 0-d tensor does not raise a higher-dimensional one's dtype)."""
    if len(arrays_and_dtypes) == 2 and builtins.all(isinstance(a, Tensor) for a in arrays_and_dtypes):
        return _C.result_type(*arrays_and_dtypes)
    if not arrays_and_dtypes:
        raise ValueError("[result_type] needs at least one tensor or dtype")
    dts = [a if isinstance(a, _D) else a.dtype for a in arrays_and_dtypes if isinstance(a, (_D, Tensor))]
    scalars = [a for a in arrays_and_dtypes if not isinstance(a, (_D, Tensor))]
    for s in scalars:
        if not isinstance(s, (builtins.bool, builtins.int, builtins.float, builtins.complex)):
            raise TypeError(f"[result_type] expected tensors, dtypes or Python scalars, got {type(s).__name__}")
    if not dts:
        if len(scalars) == 2:
            return _C.result_type(*scalars)
        return _C.tensor(scalars[0]).dtype
    out = dts[0]
    for d in dts[1:]:
        out = _C.promote_types(out, d)
    for s in scalars:
        out = _scalar_result(out, s)
    return out


def _scalar_result(dt, s):
    if isinstance(s, builtins.bool):
        return dt
    if isinstance(s, builtins.int):
        return dt if dt != _D.bool else _D.int64
    if isinstance(s, builtins.float):
        return dt if (dt.is_floating_point or dt.is_complex) else _C.get_default_dtype()
    return dt if dt.is_complex else (_D.complex128 if dt == _D.float64 else _D.complex64)


def can_cast(from_, to, /):
    """Whether a `from_` value (dtype or tensor) can be cast to `to`: PyTorch's rule, no step down in
    category (bool < integer < floating < complex), so ``can_cast(int32, int16)`` is True where the
    standard's promotion rules say False (its suite does not test the difference)."""
    return _C.can_cast(_dtype_of(from_, "can_cast"), _dtype_of(to, "can_cast"))


@_placed
def astype(x, dtype, /, *, copy=True, device=None):
    """x converted to `dtype` (a new tensor unless copy=False and nothing changes)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"[astype] expected a Tensor, got {type(x).__name__}")
    if x.dtype == dtype and not copy:
        return x
    return x.to(dtype).clone() if x.dtype == dtype else x.to(dtype)


# ---------------------------------------------------------------- creation

def _nested_kind(obj):
    """'bool' / 'int' / 'float' / 'complex' / None: the widest Python scalar kind in a nested sequence."""
    rank = {builtins.bool: 0, builtins.int: 1, builtins.float: 2, builtins.complex: 3}
    best = -1
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, (list, tuple)):
            stack.extend(o)
        elif isinstance(o, Tensor):
            return None
        else:
            for t, r in rank.items():
                if type(o) is t or (isinstance(o, t) and not isinstance(o, builtins.bool)):
                    best = builtins.max(best, r)
                    break
    return best


@_placed
def asarray(obj, /, *, dtype=None, device=None, copy=None):
    """A tensor from a tensor, a NumPy array, a buffer, a DLPack capsule holder, a Python scalar or a nested
    sequence; copy=None shares memory when it can, False raises when it cannot, True always copies."""
    if isinstance(obj, Tensor):
        out = obj
        if dtype is not None and obj.dtype != dtype:
            if copy is False:
                raise ValueError("[asarray] copy=False but a dtype change needs a copy")
            return obj.to(dtype)
        return out.clone() if copy else out
    np = sys.modules.get("numpy")  # an ndarray exists only if NumPy was imported: tessel itself does not need it
    if np is not None and (isinstance(obj, np.ndarray)
                           or (hasattr(obj, "__array_interface__") and not isinstance(obj, (list, tuple)))):
        a = np.asarray(obj)
        if a.dtype.kind not in "biufc":
            raise TypeError(f"[asarray] unsupported NumPy dtype {a.dtype}")
        if not a.flags.writeable or a.dtype.byteorder not in "=|" or not a.flags.c_contiguous:
            if copy is False:
                raise ValueError("[asarray] copy=False but the array cannot be shared without a copy")
            a = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("="), copy=True)
        elif copy:
            a = a.copy()
        out = _C.from_numpy(a)
        if dtype is not None and out.dtype != dtype:
            if copy is False:
                raise ValueError("[asarray] copy=False but a dtype change needs a copy")
            out = out.to(dtype)
        return out
    if hasattr(obj, "__dlpack__"):
        out = _C.from_dlpack(obj)
        return asarray(out, dtype=dtype, copy=copy)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        import numpy as np  # buffers go through NumPy's buffer protocol reader
        a = np.frombuffer(obj, dtype=np.uint8) if not isinstance(obj, memoryview) else np.asarray(obj)
        return asarray(a, dtype=dtype, copy=copy)
    if copy is False:
        raise ValueError("[asarray] copy=False needs an object that shares memory (a tensor or an array)")
    if isinstance(obj, (list, tuple)) and dtype is None and _nested_kind(obj) == 1:
        return _C.tensor(obj, dtype=_D.int64)
    if isinstance(obj, builtins.int) and not isinstance(obj, builtins.bool) and dtype is None:
        if not (-2 ** 63 <= obj < 2 ** 63):
            raise OverflowError(f"[asarray] {obj} does not fit in int64")
    if dtype is not None and dtype.is_floating_point and isinstance(obj, builtins.complex):
        raise TypeError("[asarray] a complex value cannot become a real dtype")
    if dtype is not None and isinstance(obj, (list, tuple)) and not (dtype.is_floating_point or dtype.is_complex):
        # Python floats into an integer dtype would truncate silently
        kind = _nested_kind(obj)  # None: holds tensors
        return _C.tensor(obj).to(dtype) if kind is not None and 0 <= kind <= 1 else _C.tensor(obj, dtype=dtype)
    return _C.tensor(obj, dtype=dtype)


@_placed
def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None, requires_grad=False):
    """The (n_rows, n_cols) matrix with ones on diagonal k (torch.eye plus the standard's k)."""
    m = n_rows if n_cols is None else n_cols
    if k == 0:
        return _C.eye(n_rows, m, dtype=dtype, requires_grad=requires_grad)
    out = _C.zeros((n_rows, m), dtype=dtype or _C.get_default_dtype())
    if -n_rows < k < m:
        i = _C.arange(builtins.max(0, -k), builtins.min(n_rows, m - k))
        out[i, i + k] = 1
    return out.requires_grad_(requires_grad) if requires_grad else out


@_placed
def linspace(start, stop=None, num=None, *, dtype=None, device=None, endpoint=True, requires_grad=False,
             steps=None, end=None):
    """num values from start to stop (torch.linspace; `end` and `steps` are PyTorch's names for stop and
    num; endpoint=False leaves stop out)."""
    if (stop is None) == (end is None):
        raise TypeError("[linspace] pass the end point once (stop, or end as in PyTorch)")
    stop = end if stop is None else stop
    n = num if num is not None else steps
    if n is None:
        raise TypeError("[linspace] missing the number of values (num, or steps as in PyTorch)")
    cplx = builtins.any(isinstance(v, builtins.complex) for v in (start, stop)) or (dtype is not None and dtype.is_complex)
    if cplx or (dtype is not None and not dtype.is_floating_point):
        step = (stop - start) / ((n - 1 if endpoint else n) or 1)
        dt = dtype or (_D.complex64 if _C.get_default_dtype() == _D.float32 else _D.complex128)
        vals = [start + i * step for i in range(n)]
        if endpoint and n > 1:
            vals[-1] = stop
        out = _C.tensor(vals, dtype=_D.complex128 if cplx else _D.float64).to(dt) if n else _C.zeros(0, dtype=dt)
        return out
    if not endpoint:
        # the first n of n + 1 points to stop, as the standard defines it (bit for bit: the points past
        # the middle are computed from stop)
        if n == 0:
            return _C.zeros(0, dtype=dtype or _C.get_default_dtype())
        out = _C.linspace(start, stop, n + 1, dtype=dtype)[:n].clone()
        return out.requires_grad_(requires_grad) if requires_grad else out
    return _C.linspace(start, stop, n, dtype=dtype, requires_grad=requires_grad)


@_placed
def from_dlpack(x, /, *, device=None, copy=None):
    """A tensor sharing the memory of an object with __dlpack__ (copy=True copies)."""
    out = _C.from_dlpack(x)
    return out.clone() if copy else out


# ---------------------------------------------------------------- Tensor methods

def _array_namespace(self, /, *, api_version=None):
    if api_version is not None and api_version not in ("2021.12", "2022.12", "2023.12", "2024.12"):
        raise ValueError(f"[__array_namespace__] unsupported api_version {api_version!r}")
    import tessel
    return tessel


def _to_device(self, device, /, *, stream=None):
    d = device if isinstance(device, _C.device) else _C.device(str(device))
    return self if self.device == d else self.to(d)


def _integral(dt):
    return dt.name in _KINDS["integral"]


def _pos(self):
    if self.dtype == _D.bool:
        raise TypeError("unary +: not defined for bool tensors")
    return self.clone()


def _install_tensor():
    Tensor.__array_namespace__ = _array_namespace
    Tensor.to_device = _to_device
    Tensor.__pos__ = _pos
    if not hasattr(Tensor, "mH"):  # the conjugate transpose of the last two dims
        Tensor.mH = property(lambda self: (_C.conj(self) if self.dtype.is_complex else self).mT)
    if not hasattr(Tensor, "__imatmul__"):
        def _imatmul(self, other):
            self.copy_(_C.matmul(self, other))
            return self
        Tensor.__imatmul__ = _imatmul


_install_tensor()


# ---------------------------------------------------------------- finfo / iinfo

class finfo(_port.finfo):  # noqa: N801
    """PyTorch's finfo that also takes a tensor, with .dtype the real dtype object (which compares equal to
    its name, so PyTorch's `finfo(t).dtype == "float32"` holds too)."""

    def __init__(self, type=None, /):  # noqa: A002  (PyTorch's argument name)
        super().__init__(type.dtype if isinstance(type, Tensor) else type)
        self.dtype = _dtype(self.dtype)


class iinfo(_port.iinfo):  # noqa: N801
    """PyTorch's iinfo that also takes a tensor; .dtype is the dtype object (equal to its name too)."""

    def __init__(self, type, /):  # noqa: A002
        super().__init__(type.dtype if isinstance(type, Tensor) else type)
        self.dtype = _dtype(self.dtype)


def _install_dtype_eq():
    """dtype == "float32" is True (as for NumPy dtypes); the hash stays the enum's."""
    eq, ne, h = _D.__eq__, _D.__ne__, _D.__hash__
    if getattr(eq, "_tessel_named", False):
        return

    def __eq__(self, other):
        if isinstance(other, str):
            return self.name == other
        return eq(self, other)

    def __ne__(self, other):
        if isinstance(other, str):
            return self.name != other
        return ne(self, other)

    __eq__._tessel_named = True
    _D.__eq__, _D.__ne__, _D.__hash__ = __eq__, __ne__, h


_install_dtype_eq()


from ._array_api_ops import *  # noqa: E402,F401,F403  (the functions by family)
from ._array_api_ops import __all__ as _ops_all  # noqa: E402

__all__ += _ops_all
