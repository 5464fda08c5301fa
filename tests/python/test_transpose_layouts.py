"""Operands whose memory orders cross: copy's blocked transpose (kernels/cpu/copy.cpp),
binary/where/lerp copying a crossing operand into the output's layout first
(src/ops/elementwise.cpp), and the iterator's tiled walk for the rest (hypot's
kernel, kernels/cpu/loops.cpp). Every path against NumPy, at sizes around the tile edges,
with storage offsets, on 1 and 2 threads."""
import numpy as np
import pytest

import tessel as ts


SHAPES = [(64, 80), (257, 129), (1000, 33), (33, 1000), (512, 512)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "complex64", "float16", "int16", "int8",
                                   "bool"])
def test_transposed_copy(shape, dtype, threads):
    rng = np.random.default_rng(sum(shape))
    a = (rng.standard_normal((shape[0] + 3, shape[1] + 2)) * 100).astype(dtype)
    if dtype == "complex64":
        a = a + 1j * a[::-1]
    x = ts.from_numpy(a)[3:, 2:]  # a storage offset
    np.testing.assert_array_equal(x.t().contiguous().numpy(), a[3:, 2:].T)
    d = ts.empty(tuple(reversed(shape)), dtype=x.dtype).t()  # a transposed destination
    d.copy_(x.contiguous())
    np.testing.assert_array_equal(d.numpy(), a[3:, 2:])


@pytest.mark.parametrize("perm", [(0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)])
def test_permuted_3d_copy_and_cast(perm, threads):
    a = np.random.default_rng(3).standard_normal((17, 40, 70)).astype(np.float32)
    x = ts.from_numpy(a).permute(*perm)
    want = a.transpose(perm)
    np.testing.assert_array_equal(x.contiguous().numpy(), want)
    np.testing.assert_array_equal(x.to(ts.float64).numpy(), want.astype(np.float64))  # casts: the blocked copy too
    np.testing.assert_array_equal(x.to(ts.int32).numpy(), want.astype(np.int32))
    y = ts.from_numpy(np.ascontiguousarray(want[::-1]))
    np.testing.assert_allclose(ts.hypot(x, y).numpy(), np.hypot(want, want[::-1]), rtol=1e-6)  # the tiled walk


@pytest.mark.parametrize("shape", [(300, 200), (129, 1031)])
def test_binary_ops_with_crossing_layouts(shape, threads):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shape[::-1]).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    x, y = ts.from_numpy(a).t(), ts.from_numpy(b)  # x transposed, y contiguous
    at = a.T
    np.testing.assert_array_equal((x + y).numpy(), at + b)
    np.testing.assert_array_equal((y - x).numpy(), b - at)
    np.testing.assert_array_equal((x * y).numpy(), at * b)
    np.testing.assert_array_equal((x < y).numpy(), at < b)
    np.testing.assert_array_equal(ts.where(x > 0, x, y).numpy(), np.where(at > 0, at, b))
    np.testing.assert_allclose(ts.lerp(x, y, 0.3).numpy(), at + np.float32(0.3) * (b - at), rtol=1e-6, atol=1e-6)
    z = y.clone()
    z += x  # in place: the other operand crosses self's layout
    np.testing.assert_array_equal(z.numpy(), b + at)
    w = ts.from_numpy(a.copy()).t()
    w.mul_(y)  # self transposed, the other contiguous
    np.testing.assert_array_equal(w.numpy(), at * b)


def test_crossing_layouts_under_autograd():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((2, 260, 190))
    x = ts.tensor(a, requires_grad=True)
    y = ts.tensor(b.T.copy(), requires_grad=True)
    g = rng.standard_normal((190, 260))
    (x.t() * y).backward(ts.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), (g * b.T).T, rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), g * a.T, rtol=1e-12)


@pytest.mark.parametrize("shape", [(256, 390), (70, 1001), (1031, 17)])
@pytest.mark.parametrize("parts", [2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])  # 16 x 16 blocks; 32 x 32 for 2-byte types
def test_stack_of_transposed_parts(shape, parts, dtype, threads):
    # Each part lands in a slot of the result that is strided along its inner dim
    # (every `parts` elements): the blocked copy writes with that step.
    rng = np.random.default_rng(parts)
    arrs = [rng.standard_normal(shape).astype(dtype) for _ in range(parts)]
    xs = [ts.from_numpy(a).t() for a in arrs]
    np.testing.assert_array_equal(ts.stack(xs, -1).numpy(), np.stack([a.T for a in arrs], -1))
    np.testing.assert_array_equal(ts.stack(xs, 1).numpy(), np.stack([a.T for a in arrs], 1))
    # mixed dtypes: cat promotes, so each part is cast while it is transposed
    mixed = [x if i % 2 else x.to(ts.float64) for i, x in enumerate(xs)]
    want = np.stack([a.T.astype(np.float64) for a in arrs], -1)
    np.testing.assert_array_equal(ts.stack(mixed, -1).numpy(), want)
    out = ts.cat([x.unsqueeze(-1) for x in xs], -1)
    np.testing.assert_array_equal(out.numpy(), np.stack([a.T for a in arrs], -1))


@pytest.mark.parametrize("shape", [(390, 256), (65, 4097), (130, 47)])
@pytest.mark.parametrize("dtype", ["bfloat16", "int16", "float32", "int32", "float64", "complex64"])
def test_stack_of_a_transposed_pair(shape, dtype, threads):
    # Two parts with the same transposed strides: one tiled pass writes whole lines of the
    # result (src/ops/shape.cpp). Sources cut from wider arrays (a leading dim above the
    # row count) and at a storage offset; tiles ragged at both edges.
    rng = np.random.default_rng(shape[1])
    big = [(rng.standard_normal((shape[1] + 1, shape[0] + 5)) * 50).astype(np.float32) for _ in range(2)]
    ws = [ts.from_numpy(b).to(getattr(ts, dtype)) if dtype != "complex64" else
          ts.from_numpy((b + 1j * b[::-1]).astype(np.complex64)) for b in big]
    xs = [w[1:, 3:3 + shape[0]].t() for w in ws]  # element (i, j) at i + j * (shape[0] + 5)
    want = np.stack([w.numpy()[1:, 3:3 + shape[0]].T for w in ws], -1)
    np.testing.assert_array_equal(ts.stack(xs, -1).numpy(), want)
    np.testing.assert_array_equal(ts.stack([xs[1], xs[0]], 2).numpy(), want[..., ::-1])
    mixed = [xs[0], xs[1].contiguous()]  # strides differ: each part copied into its slots
    np.testing.assert_array_equal(ts.stack(mixed, -1).numpy(), want)
