"""layer_norm's fused CPU kernel (float32/64) and its fused backward against NumPy float64."""
import numpy as np
import pytest

import tessel as ts
import tessel.nn.functional as F


def ref(x, w, b, g, eps=1e-5):
    x, w, b, g = (np.asarray(a, np.float64) for a in (x, w, b, g))
    m = x.mean(-1, keepdims=True)
    rs = 1.0 / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps)
    xh = (x - m) * rs
    y = xh * w + b
    gw = g * w
    dx = rs * (gw - gw.mean(-1, keepdims=True) - xh * (gw * xh).mean(-1, keepdims=True))
    return y, dx, (g * xh).reshape(-1, x.shape[-1]).sum(0), g.reshape(-1, x.shape[-1]).sum(0)


@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-10), (ts.float32, 2e-5)])
@pytest.mark.parametrize("rows,d", [(1, 1), (5, 1), (3, 7), (4, 64), (2, 769), (3, 4096), (300, 33)])
def test_forward_and_backward_match_float64(dtype, tol, rows, d):
    rng = np.random.default_rng(rows * 10007 + d)
    xn = rng.standard_normal((rows, d)) * 3 + 1.5
    wn, bn, gn = rng.standard_normal(d), rng.standard_normal(d), rng.standard_normal((rows, d))
    x = ts.tensor(xn, dtype=dtype).requires_grad_()
    w = ts.tensor(wn, dtype=dtype).requires_grad_()
    b = ts.tensor(bn, dtype=dtype).requires_grad_()
    y = F.layer_norm(x, (d,), w, b)
    y.backward(ts.tensor(gn, dtype=dtype))
    ey, edx, edw, edb = ref(xn, wn, bn, gn)
    for got, want in ((y, ey), (x.grad, edx), (w.grad, edw), (b.grad, edb)):
        got = got.detach().numpy().astype(np.float64)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def test_non_contiguous_input_and_leading_dims():
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((6, 5, 9))
    x = ts.tensor(xn, dtype=ts.float64).permute(1, 0, 2)  # [5, 6, 9], not contiguous
    y = F.layer_norm(x, (9,))
    ey = ref(xn.transpose(1, 0, 2), np.ones(9), np.zeros(9), np.zeros((5, 6, 9)))[0]
    np.testing.assert_allclose(y.numpy(), ey, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [ts.float16, ts.bfloat16])
def test_half_types_take_the_op_path_and_stay_close(dtype):
    rng = np.random.default_rng(2)
    xn = rng.standard_normal((4, 33))
    y = F.layer_norm(ts.tensor(xn, dtype=ts.float32).to(dtype), (33,))
    ey = ref(xn, np.ones(33), np.zeros(33), np.zeros((4, 33)))[0]
    np.testing.assert_allclose(y.to(ts.float32).numpy(), ey, rtol=0.05, atol=0.05)


def test_result_does_not_depend_on_the_thread_count():
    if not hasattr(ts, "set_num_threads"):
        pytest.skip("tessel.set_num_threads is not exposed")
    rng = np.random.default_rng(3)
    xn = rng.standard_normal((257, 768)).astype(np.float32)
    outs = []
    before = ts.get_num_threads()
    try:
        for n in (1, 2, 3):
            ts.set_num_threads(n)
            x = ts.tensor(xn).requires_grad_()
            w = ts.ones(768).requires_grad_()
            y = F.layer_norm(x, (768,), w)
            (y * y).sum().backward()
            outs.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy()])
    finally:
        ts.set_num_threads(before)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            assert np.array_equal(a, b)
