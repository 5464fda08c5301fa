"""Eager conv2d calls small enough for one thread run on the calling thread alone
(kernels/cpu/conv.cpp, serial.h's OneThreadIf): forward and both backwards give
the float64 reference's results at 1 and 2 threads, for convolutions below and
above the threshold, and the caller's thread count is back after every call."""
import numpy as np
import pytest

import tessel as ts
import tessel.nn.functional as F


def conv_ref(x, w, gy, pad, groups):
    """y, dx, dw of a stride-1 conv in float64 (NumPy)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for g in range(groups):
        xs, ws = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for u in range(kh):
            for v in range(kw):
                win = xp[:, xs, u:u + ho, v:v + wo]  # [n, cg, ho, wo]
                y[:, ws] += np.einsum("ncij,oc->noij", win, w[ws, :, u, v])
                dw[ws, :, u, v] += np.einsum("noij,ncij->oc", gy[:, ws], win)
                dxp[:, xs, u:u + ho, v:v + wo] += np.einsum("noij,oc->ncij", gy[:, ws], w[ws, :, u, v])
    return y, dxp[:, :, pad:pad + h, pad:pad + wd], dw


# (n, c, hw, o, groups): 0.23 MFLOP (one thread at 2 threads), 0.02 MFLOP grouped,
# and 19 MFLOP (both threads)
SHAPES = [(1, 16, 7, 16, 1), (1, 8, 6, 8, 2), (2, 16, 32, 32, 1)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n,c,hw,o,groups", SHAPES)
def test_conv2d_forward_backward_match_float64(threads, n, c, hw, o, groups):
    rng = np.random.default_rng(hw + o)
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((o, c // groups, 3, 3)) / 6).astype(np.float32)
    gy = rng.standard_normal((n, o, hw, hw)).astype(np.float32)
    y_ref, dx_ref, dw_ref = conv_ref(x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), 1, groups)
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        for _ in range(2):  # the second call takes the cached primitives
            xt = ts.tensor(x, requires_grad=True)
            wt = ts.tensor(w, requires_grad=True)
            y = F.conv2d(xt, wt, padding=1, groups=groups)
            assert ts.get_num_threads() == threads
            y.backward(ts.tensor(gy))
            assert ts.get_num_threads() == threads
            np.testing.assert_allclose(y.numpy(), y_ref, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(xt.grad.numpy(), dx_ref, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(wt.grad.numpy(), dw_ref, rtol=1e-4, atol=2e-4)
    finally:
        ts.set_num_threads(old)


def test_threads_restored_after_a_failing_call():
    old = ts.get_num_threads()
    ts.set_num_threads(2)
    try:
        x = ts.tensor(np.ones((1, 3, 5, 5), np.float32))
        w = ts.tensor(np.ones((4, 2, 3, 3), np.float32))  # 2 input channels for 3
        with pytest.raises(Exception, match="conv"):
            F.conv2d(x, w)
        assert ts.get_num_threads() == 2
    finally:
        ts.set_num_threads(old)
