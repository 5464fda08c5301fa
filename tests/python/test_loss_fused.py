"""nll_loss / cross_entropy over [N, C] scores through the one-pass kernel
(kernels/cpu/loss.cpp, "nll_loss_fused" and its backward), against NumPy in
float64 and against the composite that reduction='none' still takes."""
import numpy as np
import pytest

import tessel as ts

F = ts.nn.functional


def ref_nll(x, t, w, ignore, reduction):
    x = np.asarray(x, np.float64)
    keep = t != ignore
    wt = np.where(keep, (w[np.where(keep, t, 0)] if w is not None else 1.0), 0.0)
    picked = x[np.arange(len(t)), np.where(keep, t, 0)]
    loss = -(wt * picked)
    return loss.sum() / wt.sum() if reduction == "mean" else loss.sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("tdtype", [np.int64, np.int32])
def test_nll_loss_matches_numpy(dtype, reduction, weighted, tdtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 11)).astype(dtype)
    t = rng.integers(0, 11, 37).astype(tdtype)
    t[[2, 9, 30]] = -100
    w = rng.uniform(0.2, 2.0, 11).astype(dtype) if weighted else None
    got = F.nll_loss(ts.tensor(x), ts.tensor(t), weight=ts.tensor(w) if weighted else None, reduction=reduction)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.numpy(), ref_nll(x, t, w, -100, reduction), rtol=tol)
    assert got.dtype == ts.tensor(x).dtype and got.shape == ()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_the_composite(reduction, weighted):
    # reduction='none' runs the ops; its sum (or weighted mean) is the same loss.
    rng = np.random.default_rng(4)
    xn = rng.standard_normal((9, 6))
    t = ts.tensor(np.array([0, 5, 3, 3, -1, 2, 1, 4, 0]))
    w = ts.tensor(rng.uniform(0.5, 1.5, 6)) if weighted else None
    x1 = ts.tensor(xn, requires_grad=True)
    F.cross_entropy(x1, t, weight=w, ignore_index=-1, reduction=reduction).backward()
    x2 = ts.tensor(xn, requires_grad=True)
    per = F.cross_entropy(x2, t, weight=w, ignore_index=-1, reduction="none")
    if reduction == "mean":
        wt = (w.numpy()[np.where(t.numpy() >= 0, t.numpy(), 0)] if weighted else np.ones(9)) * (t.numpy() >= 0)
        (per.sum() / float(wt.sum())).backward()
    else:
        per.sum().backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(x1.grad.numpy()[4] == 0)  # the ignored row


def test_strided_scores_and_transposed_view():
    rng = np.random.default_rng(5)
    big = rng.standard_normal((8, 20))
    t = np.array([1, 0, 4, 2, 3, 4, 0, 1])
    x = ts.tensor(big)[:, ::4]  # [8, 5], column stride 4
    np.testing.assert_allclose(F.nll_loss(x, ts.tensor(t)).numpy(), ref_nll(big[:, ::4], t, None, -100, "mean"),
                               rtol=1e-12)
    xt = ts.tensor(np.ascontiguousarray(big[:, :8].T)).mT  # [8, 8] transposed view
    np.testing.assert_allclose(F.nll_loss(xt, ts.tensor(t), reduction="sum").numpy(),
                               ref_nll(big[:, :8], t, None, -100, "sum"), rtol=1e-12)


def test_every_target_ignored_gives_nan_mean_and_zero_gradient():
    x = ts.tensor(np.ones((3, 4)), requires_grad=True)
    loss = F.nll_loss(x, ts.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    assert np.all(x.grad.numpy() == 0)
    assert F.nll_loss(x, ts.tensor([-100, -100, -100]), reduction="sum").item() == 0.0


@pytest.mark.parametrize("bad", [4, -3, 1000])
def test_out_of_range_target_names_the_op(bad):
    x = ts.tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(IndexError, match=r"nll_loss.*%d.*out of bounds" % bad):
        F.nll_loss(x, ts.tensor([0, bad, 1]))
    with pytest.raises(IndexError, match=r"cross_entropy.*%d.*out of bounds" % bad):
        F.cross_entropy(x, ts.tensor([0, bad, 1]))


def test_second_order_through_the_ops():
    # Under create_graph the backward is written with ops: the double backward of
    # cross_entropy (a Hessian-vector product) against finite differences of the gradient.
    rng = np.random.default_rng(6)
    xn = rng.standard_normal((4, 5))
    t = ts.tensor([1, 4, 0, 2])
    v = rng.standard_normal((4, 5))

    def grad_at(xv):
        x = ts.tensor(xv, requires_grad=True)
        (g,) = ts.autograd.grad(F.cross_entropy(x, t), [x], create_graph=True)
        return x, g

    x, g = grad_at(xn)
    (hv,) = ts.autograd.grad((g * ts.tensor(v)).sum(), [x])
    eps = 1e-6
    fd = (grad_at(xn + eps * v)[1].numpy() - grad_at(xn - eps * v)[1].numpy()) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_weight_that_needs_a_gradient_takes_the_composite():
    x = ts.tensor(np.random.default_rng(7).standard_normal((5, 3)))
    w = ts.tensor([1.0, 2.0, 3.0], dtype=ts.float64, requires_grad=True)
    t = ts.tensor([0, 1, 2, 2, 1])
    F.nll_loss(x, t, weight=w, reduction="sum").backward()
    expect = np.zeros(3)
    for i, k in enumerate(t.numpy()):
        expect[k] -= x.numpy()[i, k]
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-12)
