"""nonzero's branch-free contiguous path and t[mask]'s direct path (issue 16) against NumPy:
every rank, dtype and density, strided inputs (the general path), gradients."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(1,), (7,), (1000,), (3, 5), (390, 256), (1, 700), (700, 1), (4, 3, 5), (2, 3, 4, 5),
                                   (0,), (3, 0)])
@pytest.mark.parametrize("density", [0.0, 0.03, 0.5, 1.0])
def test_nonzero_matches_numpy(shape, density):
    a = (RNG.random(shape) < density) * RNG.integers(1, 9, shape)
    for dtype, np_dtype in ((ts.int64, np.int64), (ts.float32, np.float32), (ts.bool, bool), (ts.float16, np.float16)):
        x = ts.tensor(a.astype(np_dtype)).to(dtype) if dtype != ts.bool else ts.tensor(a.astype(bool))
        got = ts.nonzero(x).numpy()
        want = np.argwhere(a)
        assert got.shape == want.shape and np.array_equal(got, want), (shape, density, dtype)


@pytest.mark.parametrize("shape", [(40, 30), (6, 7, 8)])
def test_nonzero_of_strided_views(shape):
    a = (RNG.random(shape) < 0.4) * 1.0
    x = ts.tensor(a.astype(np.float32))
    for view, ref in ((x.transpose(0, -1), a.swapaxes(0, -1)), (x[::2], a[::2])):
        assert np.array_equal(ts.nonzero(view).numpy(), np.argwhere(ref))


@pytest.mark.parametrize("shape", [(1000,), (390, 256), (4, 3, 5)])
def test_boolean_mask_selection_and_gradient(shape):
    a = RNG.standard_normal(shape).astype(np.float32)
    m = a > 0.3
    x = ts.tensor(a).requires_grad_()
    y = x[ts.tensor(m)]
    np.testing.assert_array_equal(y.detach().numpy(), a[m])
    w = RNG.standard_normal(y.shape).astype(np.float32)
    (y * ts.tensor(w)).sum().backward()
    want = np.zeros_like(a)
    want[m] = w
    np.testing.assert_array_equal(x.grad.numpy(), want)
    # a transposed (non-contiguous) tensor, and a mask of fewer dims, take the general path
    if len(shape) == 2:
        t = ts.tensor(a.T.copy()).t()
        np.testing.assert_array_equal(t[ts.tensor(m)].numpy(), a[m])
        np.testing.assert_array_equal(ts.tensor(a)[ts.tensor(m[:, 0])].numpy(), a[m[:, 0]])
    empty = ts.tensor(a)[ts.zeros(shape, dtype=ts.bool)]
    assert empty.shape == (0,)
