"""repr(tensor) in PyTorch's format (torch/_tensor_str.py with default print
options: precision 4, threshold 1000, edgeitems 3, linewidth 80), with
'torch.' replaced by 'tessel.' in dtype suffixes."""
import pytest

import tessel as ts

nan, inf = float("nan"), float("inf")


@pytest.mark.parametrize("make, expected", [
    (lambda: ts.tensor([1., 2.]), "tensor([1., 2.])"),
    (lambda: ts.tensor([0.1, 0.2]), "tensor([0.1000, 0.2000])"),
    (lambda: ts.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
    (lambda: ts.tensor([1, 2], dtype=ts.int32), "tensor([1, 2], dtype=tessel.int32)"),
    (lambda: ts.tensor([1, 2], dtype=ts.uint8), "tensor([1, 2], dtype=tessel.uint8)"),
    (lambda: ts.tensor([1., 2.], dtype=ts.float64), "tensor([1., 2.], dtype=tessel.float64)"),
    (lambda: ts.tensor([1., 2.], dtype=ts.float16), "tensor([1., 2.], dtype=tessel.float16)"),
    (lambda: ts.tensor([1., 2.], dtype=ts.bfloat16), "tensor([1., 2.], dtype=tessel.bfloat16)"),
    (lambda: ts.tensor([0.1, 0.2], dtype=ts.float64), "tensor([0.1000, 0.2000], dtype=tessel.float64)"),
    (lambda: ts.tensor([-1.5, 2.25]), "tensor([-1.5000,  2.2500])"),
    (lambda: ts.tensor([1, -10, 100]), "tensor([  1, -10, 100])"),
    (lambda: ts.tensor([[1., 2.], [3., 4.]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    (lambda: ts.tensor([[1, 20], [300, 4]]), "tensor([[  1,  20],\n        [300,   4]])"),
    (lambda: ts.zeros(2, 3, 2),
     "tensor([[[0., 0.],\n         [0., 0.],\n         [0., 0.]],\n\n"
     "        [[0., 0.],\n         [0., 0.],\n         [0., 0.]]])"),
    (lambda: ts.tensor(3.), "tensor(3.)"),
    (lambda: ts.tensor(3), "tensor(3)"),
    (lambda: ts.tensor(2.5), "tensor(2.5000)"),
    (lambda: ts.tensor(True), "tensor(True)"),
    (lambda: ts.tensor(7, dtype=ts.int16), "tensor(7, dtype=tessel.int16)"),
    (lambda: ts.tensor([]), "tensor([])"),
    (lambda: ts.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: ts.tensor([True, False]), "tensor([ True, False])"),
    (lambda: ts.tensor([[True], [False]]), "tensor([[ True],\n        [False]])"),
    (lambda: ts.tensor([0., 0.]), "tensor([0., 0.])"),
    (lambda: ts.tensor([0.5, nan]), "tensor([0.5000,    nan])"),
    (lambda: ts.tensor([1e-5, 1.]), "tensor([1.0000e-05, 1.0000e+00])"),
    (lambda: ts.tensor([1., 1e9]), "tensor([1.0000e+00, 1.0000e+09])"),
    (lambda: ts.tensor([0.001, 10.5]), "tensor([1.0000e-03, 1.0500e+01])"),
    (lambda: ts.tensor([1., 1000.]), "tensor([   1., 1000.])"),
    (lambda: ts.tensor([1 + 2j, 3 - 4j]), "tensor([1.+2.j, 3.-4.j])"),
    (lambda: ts.tensor([1, 2], dtype=ts.complex128), "tensor([1.+0.j, 2.+0.j], dtype=tessel.complex128)"),
    (lambda: ts.zeros(2, 2)[:, 1], "tensor([0., 0.])"),  # a non-contiguous view prints its values
])
def test_repr_exact(make, expected):
    assert repr(make()) == expected
    assert str(make()) == expected


def test_repr_int_mode_wide_range_uses_sci():
    # _Formatter: all-integer floats switch to scientific notation when max/min > 1000
    assert repr(ts.tensor([1., 10000.])) == "tensor([1.0000e+00, 1.0000e+04])"


def test_repr_nonfinite_width():
    # max_width comes from the nonzero finite values only; inf/nan are not used to pad others
    assert repr(ts.tensor([1., inf])) == "tensor([1., inf])"
    assert repr(ts.tensor([1., -inf, nan])) == "tensor([1., -inf, nan])"


def test_repr_empty_non_default_dtype():
    # PyTorch always shows the dtype of an empty tensor that is not the default float dtype
    assert repr(ts.tensor([], dtype=ts.int64)) == "tensor([], dtype=tessel.int64)"
    assert repr(ts.zeros(0, dtype=ts.int32)) == "tensor([], dtype=tessel.int32)"
    assert repr(ts.zeros(2, 0, dtype=ts.float64)) == "tensor([], size=(2, 0), dtype=tessel.float64)"


def test_repr_summarized_1d():
    r = repr(ts.arange(2000))
    assert r == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"


def test_repr_summarized_contains_ellipsis():
    for t in (ts.arange(1001), ts.zeros(40, 40), ts.ones(5, 300), ts.zeros(11, 11, 11)):
        r = repr(t)
        assert "..." in r
        assert len(r) < 3000
    assert "..." not in repr(ts.arange(1000).reshape(10, 100))  # exactly the threshold: no summary


def test_repr_summarized_rows():
    assert repr(ts.zeros(1000, 3)) == (
        "tensor([[0., 0., 0.],\n        [0., 0., 0.],\n        [0., 0., 0.],\n        ...,\n"
        "        [0., 0., 0.],\n        [0., 0., 0.],\n        [0., 0., 0.]])")


def test_repr_summarized_values_are_edges():
    t = ts.arange(3000).reshape(1000, 3)
    r = repr(t)
    assert "[   0,    1,    2]" in r
    assert "[2997, 2998, 2999]" in r
    assert "1500" not in r


def test_repr_wraps_long_rows():
    # linewidth 80: (80 - indent 7) // (width + 2) elements per line
    assert repr(ts.arange(30)) == (
        "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
        "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])")


def test_repr_scientific_wide_range():
    for vals in ([1e-8, 1.0], [1.5e10, 2.5], [0.5, 123456789.0], [1e-3, 1e3 + 0.5]):
        r = repr(ts.tensor(vals))
        assert "e+" in r or "e-" in r, r
    r = repr(ts.tensor([1.5, 2.5]))
    assert "e+" not in r and "e-" not in r


def test_repr_dtype_suffix_all():
    for dt in (ts.int8, ts.int16, ts.int32, ts.uint8, ts.float16, ts.bfloat16, ts.float64, ts.complex128):
        assert repr(ts.zeros(2, dtype=dt)).endswith(f", dtype=tessel.{dt.name})")
    for dt in (ts.int64, ts.float32, ts.bool, ts.complex64):
        assert "dtype" not in repr(ts.zeros(2, dtype=dt))


def test_repr_large_values_match_value():
    t = ts.tensor([123.456, -0.001])
    r = repr(t)
    assert r == "tensor([ 1.2346e+02, -1.0000e-03])"
