"""max/min/argmax/argmin along a dim (kernels/cpu/reduce.cpp: extreme_row for a
contiguous dim, extreme_rows for a transposed one, both on SIMD lanes): the value
and the index of the first NaN, else of the first extreme, as NumPy's argmax and
argmin; -0.0 equal to 0.0 (the first one wins); lengths around the lane blocks.
bfloat16 compares on float lanes widened by a shift: NumPy on the same values in float32."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(19)


def data(dtype, shape, kind):
    if kind == "random":
        return RNG.standard_normal(shape).astype(dtype)
    a = RNG.integers(-3, 4, size=shape).astype(dtype)  # many ties
    if kind == "nan":
        flat = a.reshape(-1)
        flat[RNG.choice(flat.size, max(1, flat.size // 40), replace=False)] = np.nan
    if kind == "zeros":
        a = np.where(RNG.random(shape) < 0.5, -0.0, 0.0).astype(dtype)
    if kind == "inf":
        a[..., ::7] = np.inf
        a[..., 3::5] = -np.inf
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "bfloat16"])
@pytest.mark.parametrize("length", [1, 7, 31, 32, 63, 64, 65, 257, 1000])
@pytest.mark.parametrize("kind", ["random", "ties", "nan", "zeros", "inf"])
@pytest.mark.parametrize("transposed", [False, True])
def test_extreme_along_a_dim_matches_numpy(dtype, length, kind, transposed):
    bf16 = dtype == "bfloat16"
    a = data(np.float32 if bf16 else dtype, (45, length), kind)
    if bf16:  # the values bfloat16 holds (rounded once), compared in float32
        a = ts.tensor(a).to(ts.bfloat16).to(ts.float32).numpy()
    x = ts.tensor(np.ascontiguousarray(a.T)).t() if transposed else ts.tensor(a)
    if bf16:
        x = x.to(ts.bfloat16)
        assert length == 1 or x.is_contiguous() != transposed
    for name, npf in [("max", np.argmax), ("min", np.argmin)]:
        v, i = getattr(ts, name)(x, -1)
        want = npf(a, -1)
        np.testing.assert_array_equal(i.numpy(), want)
        assert v.dtype == x.dtype
        got_v, want_v = v.to(ts.float32).numpy() if bf16 else v.numpy(), np.take_along_axis(a, want[:, None], -1)[:, 0]
        np.testing.assert_array_equal(got_v, want_v)
        np.testing.assert_array_equal(np.signbit(got_v), np.signbit(want_v))  # the first zero's sign
        np.testing.assert_array_equal(getattr(ts, "arg" + name)(x, -1).numpy(), want)


def test_other_dims_and_keepdim():
    a = RNG.standard_normal((6, 70, 40)).astype(np.float32)
    a[2, 5:9, 3] = np.nan
    x = ts.tensor(a)
    for dim in (0, 1, 2):
        v, i = ts.max(x, dim, keepdim=True)
        np.testing.assert_array_equal(i.numpy(), np.expand_dims(np.argmax(a, dim), dim))
        np.testing.assert_array_equal(ts.argmin(x.permute(2, 0, 1), dim).numpy(), np.argmin(a.transpose(2, 0, 1), dim))
