"""ts.testing.assert_close: PyTorch's assert_close for tessel tensors, NumPy arrays,
Python numbers and nested sequences/mappings of them."""
import cmath
import collections.abc
import math
import numbers

from . import _C
from ._C import Tensor
from ._compare import isclose

__all__ = ["assert_close"]

_F = _C.dtype
# Default (rtol, atol) per dtype, as torch.testing; integers and bools compare exactly.
_TOLERANCES = {
    _F.float16: (1e-3, 1e-5),
    _F.bfloat16: (1.6e-2, 1e-5),
    _F.float32: (1.3e-6, 1e-5),
    _F.float64: (1e-7, 1e-7),
    _F.complex64: (1.3e-6, 1e-5),
    _F.complex128: (1e-7, 1e-7),
}


class _Mismatch(Exception):
    """A failed comparison: the message, and the error type to raise it as."""

    def __init__(self, message, kind=AssertionError):
        super().__init__(message)
        self.kind = kind


def _is_ndarray(x):
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


def _is_number(x):
    return isinstance(x, numbers.Number) and not _is_ndarray(x)


def _number_kind(x):
    # Python and NumPy scalars compare by kind (bool, int, float, complex).
    if isinstance(x, bool) or type(x).__name__ == "bool_":
        return bool
    if isinstance(x, numbers.Integral):
        return int
    if isinstance(x, numbers.Real):
        return float
    return complex


def _tolerances(dtypes, rtol, atol):
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    if rtol is not None:
        return rtol, atol
    pairs = [_TOLERANCES.get(d, (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _as_tensor(x):
    if isinstance(x, Tensor):
        return x.detach()
    try:
        return _C.from_numpy(x)
    except (TypeError, ValueError):
        return _C.tensor(x)


def _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype):
    ka, ke = _number_kind(actual), _number_kind(expected)
    if (ka is bool) != (ke is bool):
        raise _Mismatch(f"The (d)types do not match: {type(actual)} != {type(expected)}.", TypeError)
    if check_dtype and ka is not ke:
        raise _Mismatch(f"The (d)types do not match: {type(actual)} != {type(expected)}.")
    default = {bool: (0.0, 0.0), int: (0.0, 0.0), float: (1e-7, 1e-7), complex: (1e-7, 1e-7)}
    if (rtol is None) != (atol is None):
        _tolerances([], rtol, atol)  # raises the message about the missing one
    if rtol is None:
        rtol, atol = max(default[ka][0], default[ke][0]), max(default[ka][1], default[ke][1])
    a, e = complex(actual), complex(expected)
    if a == e or (equal_nan and cmath.isnan(a) and cmath.isnan(e)):
        return
    diff = abs(a - e)
    if math.isfinite(diff) and diff <= atol + rtol * abs(e):
        return
    exact = ka is not complex and ke is not complex and ka is not float and ke is not float
    abs_diff = int(diff) if exact else diff
    rel = diff / abs(e) if abs(e) else (math.nan if diff == 0 else math.inf)
    raise _Mismatch(_scalar_message(actual, expected, abs_diff, rel, rtol, atol))


def _scalar_message(actual, expected, abs_diff, rel, rtol, atol):
    equal = rtol == 0 and atol == 0
    lines = [f"Scalars are not {'equal' if equal else 'close'}!", "",
             f"Expected {expected} but got {actual}.",
             f"Absolute difference: {abs_diff}" + ("" if equal else f" (up to {repr(atol)} allowed)"),
             f"Relative difference: {rel}" + ("" if equal else f" (up to {repr(rtol)} allowed)")]
    return "\n".join(lines)


def _compare_tensors(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, check_stride):
    a, e = _as_tensor(actual), _as_tensor(expected)
    if a.shape != e.shape:
        raise _Mismatch(f"The values for attribute 'shape' do not match: {_size(a.shape)} != {_size(e.shape)}.")
    if check_device and a.device != e.device:
        raise _Mismatch(f"The values for attribute 'device' do not match: {a.device} != {e.device}.")
    if check_dtype and a.dtype != e.dtype:
        raise _Mismatch(f"The values for attribute 'dtype' do not match: {a.dtype} != {e.dtype}.")
    if check_stride and a.numel() > 1 and a.stride() != e.stride():
        raise _Mismatch(f"The values for attribute 'stride()' do not match: {a.stride()} != {e.stride()}.")
    rtol, atol = _tolerances([a.dtype, e.dtype], rtol, atol)
    a, e = a.cpu(), e.cpu()
    dt = _C.promote_types(a.dtype, e.dtype)
    exact_ints = not (dt.is_floating_point or dt.is_complex)
    wide = _F.complex128 if dt.is_complex else _F.float64
    a64, e64 = a.to(wide), e.to(wide)
    close = isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if bool(close.all()):
        return
    if a.dim() == 0:
        abs_diff = abs(complex(a64.item()) - complex(e64.item()))
        rel = abs_diff / abs(complex(e64.item())) if e64.item() != 0 else (math.nan if abs_diff == 0 else math.inf)
        raise _Mismatch(_scalar_message(a.item(), e.item(), int(abs_diff) if exact_ints else abs_diff, rel, rtol, atol))
    mismatch = _C.logical_not(close)
    # differences of the mismatched elements only (matched ones count as 0)
    abs_diff = _C.where(mismatch, _C.abs(a64 - e64), 0.0)
    rel_diff = _C.where(mismatch, abs_diff / _C.abs(e64), 0.0)
    n_bad, total = int(mismatch.sum()), a.numel()
    equal = rtol == 0 and atol == 0
    lines = [f"Tensor-likes are not {'equal' if equal else 'close'}!", "",
             f"Mismatched elements: {n_bad} / {total} ({n_bad / total:.1%})"]
    for label, diff, tol in (("absolute", abs_diff, atol), ("relative", rel_diff, rtol)):
        value, index = _greatest(diff, tuple(a.shape))
        if label == "absolute" and exact_ints and math.isfinite(value):
            value = int(value)
        lines.append(f"Greatest {label} difference: {value} at index {index}"
                     + ("" if equal else f" (up to {repr(tol)} allowed)"))
    raise _Mismatch("\n".join(lines))


def _greatest(diff, shape):
    """The largest value (NaN counts as largest) and its index as a tuple."""
    flat = diff.reshape(-1)
    nan = _C.isnan(flat)
    pos = int(nan.to(_F.uint8).argmax()) if bool(nan.any()) else int(flat.argmax())
    value = float(flat[pos].item())
    index = []
    for n in reversed(shape):
        index.append(pos % n)
        pos //= n
    return value, tuple(reversed(index))


def _size(shape):
    return repr(shape) if type(shape).__name__ == "Size" else f"tessel.Size({list(shape)})"


def _path_suffix(path):
    return "" if not path else "\n\nThe failure occurred for item " + "".join(f"[{p!r}]" for p in path)


def _compare(actual, expected, path, opts):
    if isinstance(actual, Tensor) or isinstance(expected, Tensor) or _is_ndarray(actual) or _is_ndarray(expected):
        same_kind = (isinstance(actual, Tensor) and isinstance(expected, Tensor)) or \
                    (_is_ndarray(actual) and _is_ndarray(expected))
        if not same_kind:
            raise _Mismatch(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                            f"{type(expected)}.", TypeError)
        if not opts["allow_subclasses"] and type(actual) is not type(expected):
            raise _Mismatch(f"The types do not match: {type(actual)} != {type(expected)}.", TypeError)
        _compare_tensors(actual, expected, opts["rtol"], opts["atol"], opts["equal_nan"], opts["check_device"],
                         opts["check_dtype"], opts["check_stride"])
        return
    if actual is None or expected is None:
        if actual is not expected:
            raise _Mismatch(f"None mismatch: {actual} is not {expected}")
        return
    if _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, opts["rtol"], opts["atol"], opts["equal_nan"], opts["check_dtype"])
        return
    if isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
        ka, ke = set(actual.keys()), set(expected.keys())
        if ka != ke:
            missing, extra = sorted(ke - ka, key=repr), sorted(ka - ke, key=repr)
            raise _Mismatch("The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: {missing}\n"
                            f"Additional keys in the actual mapping: {extra}")
        for k in actual:
            _compare_at(actual[k], expected[k], path + [k], opts)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != {len(expected)}")
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare_at(x, y, path + [i], opts)
        return
    raise _Mismatch(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.",
                    TypeError)


def _is_sequence(x):
    return isinstance(x, collections.abc.Sequence) and not isinstance(x, (str, bytes, bytearray))


def _compare_at(actual, expected, path, opts):
    try:
        _compare(actual, expected, path, opts)
    except _Mismatch as m:
        if getattr(m, "located", False):
            raise
        located = _Mismatch(str(m) + _path_suffix(path), m.kind)
        located.located = True
        raise located from None


def assert_close(actual, expected, *, allow_subclasses=True, rtol=None, atol=None, equal_nan=False,
                 check_device=True, check_dtype=True, check_layout=True, check_stride=False, msg=None):
    """Asserts that `actual` and `expected` are close, as torch.testing.assert_close.

    Elementwise |actual - expected| <= atol + rtol * |expected|, with the default
    rtol/atol of the dtypes (float32: 1.3e-6/1e-5, float64: 1e-7/1e-7, float16:
    1e-3/1e-5, bfloat16: 1.6e-2/1e-5, integers and bools: exact). Shapes must be
    equal, and dtypes and devices too unless check_dtype/check_device is False.
    Inputs are tensors, NumPy arrays, numbers, or sequences and mappings of them
    (compared item by item); both sides must be of the same kind. On failure an
    AssertionError lists the mismatched elements and the greatest absolute and
    relative differences; `msg` (a string, or a callable taking the generated
    message) replaces it.
    """
    del check_layout  # tessel tensors are all strided
    opts = dict(allow_subclasses=allow_subclasses, rtol=rtol, atol=atol, equal_nan=equal_nan,
                check_device=check_device, check_dtype=check_dtype, check_stride=check_stride)
    try:
        _compare_at(actual, expected, [], opts)
    except _Mismatch as m:
        text = str(m)
        if m.kind is not AssertionError:
            raise m.kind(text) from None
        if msg is not None:
            text = msg(text) if callable(msg) else msg
        raise AssertionError(text) from None
