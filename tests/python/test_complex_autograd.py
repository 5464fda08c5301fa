"""Gradients through complex tensors, against central finite differences in float64.

Convention (PyTorch's): a complex tensor's gradient is dL/dRe + i dL/dIm of a real loss L, so
`out.backward(v)` for a complex `out` computes the gradient of L = sum(Re(conj(v) * out)). The oracle
differentiates that L numerically, along the real and the imaginary part of every input element.
"""
import numpy as np
import pytest

import tessel as ts


def cnoise(shape, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape) + shift


def rnoise(shape, seed, shift=0.0):
    return np.random.default_rng(seed).standard_normal(shape) + shift


def _loss(out, v):
    return float(np.sum(np.real(np.conj(v) * out)))


def numeric_grads(f, arrays, v, eps=1e-6):
    """dL/dRe + i dL/dIm of L = sum(Re(conj(v) f(arrays))) for each input, by central differences."""
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros(a.shape, dtype=a.dtype)
        steps = [1.0, 1j] if np.iscomplexobj(a) else [1.0]
        for idx in np.ndindex(a.shape):
            for step in steps:
                hi, lo = [x.copy() for x in arrays], [x.copy() for x in arrays]
                hi[k][idx] += eps * step
                lo[k][idx] -= eps * step
                d = (_loss(f(*[ts.tensor(x) for x in hi]).numpy(), v)
                     - _loss(f(*[ts.tensor(x) for x in lo]).numpy(), v)) / (2 * eps)
                g[idx] += d * step
        grads.append(g)
    return grads


def analytic_grads(f, arrays, v):
    xs = [ts.tensor(a).requires_grad_() for a in arrays]
    out = f(*xs)
    out.backward(ts.tensor(v))
    return out, [x.grad.numpy() for x in xs]


def check(f, arrays, seed=99, tol=1e-7):
    with ts.no_grad():
        out = f(*[ts.tensor(a) for a in arrays]).numpy()
    v = cnoise(out.shape, seed) if np.iscomplexobj(out) else rnoise(out.shape, seed)
    res, got = analytic_grads(f, arrays, v)
    assert res.dtype == (ts.complex128 if np.iscomplexobj(out) else ts.float64)
    want = numeric_grads(f, arrays, v)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == arrays[k].dtype, (k, g.dtype, arrays[k].dtype)  # a real input gets a real gradient
        scale = max(1.0, float(np.abs(w).max()))
        assert np.abs(g - w).max() <= tol * scale, (k, g, w)


C = lambda *shape, seed=0, shift=0.0: cnoise(shape, seed, shift)  # noqa: E731
R = lambda *shape, seed=0, shift=0.0: rnoise(shape, seed, shift)  # noqa: E731

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "where": lambda a, b: ts.where(ts.tensor([True, False, True]), a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("kinds", ["cc", "cr", "rc"])
def test_binary_ops(name, kinds):
    make = {"c": C, "r": R}
    a = make[kinds[0]](3, seed=1)
    b = make[kinds[1]](3, seed=2, shift=3.0)  # away from 0 for div
    check(BINARY[name], [a, b])


UNARY = {  # name: (function, shift away from poles and branch cuts)
    "exp": (ts.exp, 0.0), "expm1": (ts.expm1, 0.0),
    "log": (ts.log, 3.0), "log10": (ts.log10, 3.0), "log1p": (ts.log1p, 3.0),
    "pow_scalar": (lambda z: z ** 3, 0.0), "pow_complex_scalar": (lambda z: z ** (0.5 + 1j), 3.0),
    "pow_tensor": (lambda z: z ** (z * 0.5), 3.0), "rpow": (lambda z: (1.5 - 0.5j) ** z, 0.0),
    "sqrt": (ts.sqrt, 3.0), "rsqrt": (ts.rsqrt, 3.0), "reciprocal": (ts.reciprocal, 3.0),
    "square": (ts.square, 0.0), "neg": (ts.neg, 0.0), "conj": (ts.conj, 0.0),
    "sin": (ts.sin, 0.0), "cos": (ts.cos, 0.0), "tan": (lambda z: ts.tan(z * 0.3), 0.0),
    "sinh": (ts.sinh, 0.0), "cosh": (ts.cosh, 0.0), "tanh": (lambda z: ts.tanh(z * 0.5), 0.0),
    "sigmoid": (ts.sigmoid, 0.0),
    "abs": (ts.abs, 0.0), "real": (ts.real, 0.0), "imag": (ts.imag, 0.0),
    "sign": (ts.sign, 0.0),
    "chain": (lambda z: ts.abs(ts.exp(z) * z - ts.sin(z)) ** 2, 0.0),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(name):
    f, shift = UNARY[name]
    check(f, [C(2, 3, seed=3, shift=shift)])


SHAPES = {
    "sum": lambda z: z.sum(),
    "sum_dim": lambda z: z.sum(dim=1),
    "mean": lambda z: z.mean(dim=0),
    "cumsum": lambda z: ts.cumsum(z, dim=1),
    "reshape": lambda z: z.reshape(3, 2) * 2,
    "permute": lambda z: z.permute(1, 0),
    "slice": lambda z: z[:, 1:],
    "index": lambda z: z[ts.tensor([1, 0, 1])],
    "index_select": lambda z: ts.index_select(z, 1, ts.tensor([2, 0])),
    "cat": lambda z: ts.cat([z, z * z], dim=0),
    "stack": lambda z: ts.stack([z, ts.exp(z)]),
    "flip": lambda z: ts.flip(z, [1]),
    "expand": lambda z: z[:1].expand(4, 3),
    "unsqueeze": lambda z: z.unsqueeze(0).squeeze(0),
    "clone": lambda z: z.clone(),
    "view_as_real": lambda z: ts.view_as_real(z) * 1.5,
    "to_real": lambda z: z.to(ts.float64),  # the real part
    "vector_norm": lambda z: ts.linalg.vector_norm(z, dim=1),
    "diagonal": lambda z: ts.diagonal(z),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_reductions_views_and_copies(name):
    check(SHAPES[name], [C(2, 3, seed=4)])


def test_real_to_complex_and_back():
    check(lambda x: ts.exp(x.to(ts.complex128) * 1j), [R(4, seed=5)])  # cos + i sin of a real input
    check(lambda x: ts.view_as_complex(x) ** 1 * ts.view_as_complex(x), [R(3, 2, seed=6)])
    check(lambda x: ts.abs(ts.view_as_complex(x)), [R(3, 2, seed=7)])


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((4,), (4, 3)), ((2, 1, 3, 4), (5, 4, 2))])
@pytest.mark.parametrize("kinds", ["cc", "rc", "cr"])
def test_matmul(shapes, kinds):
    # matmul takes one dtype (as torch's): a real operand is cast, and its gradient is the real part.
    make = {"c": C, "r": R}
    check(lambda a, b: a.to(ts.complex128) @ b.to(ts.complex128),
          [make[kinds[0]](*shapes[0], seed=8), make[kinds[1]](*shapes[1], seed=9)])


FFTS = {
    "fft": lambda z: ts.fft.fft(z),
    "fft_n_pad": lambda z: ts.fft.fft(z, n=7, norm="ortho"),
    "fft_n_cut": lambda z: ts.fft.fft(z, n=3, dim=0),
    "ifft": lambda z: ts.fft.ifft(z, norm="forward"),
    "fft2": lambda z: ts.fft.fft2(z),
    "ifftn": lambda z: ts.fft.ifftn(z, s=(3, 6)),
    "irfft": lambda z: ts.fft.irfft(z),
    "irfft_n": lambda z: ts.fft.irfft(z, n=9, norm="ortho"),
    "irfft2": lambda z: ts.fft.irfft2(z),
    "hfft": lambda z: ts.fft.hfft(z, n=6),
    "fftshift": lambda z: ts.fft.fftshift(ts.fft.fft(z)),
}


@pytest.mark.parametrize("name", sorted(FFTS))
def test_complex_ffts(name):
    check(FFTS[name], [C(4, 5, seed=10)])


REAL_IN_FFTS = {
    "fft_of_real": lambda x: ts.fft.fft(x),
    "rfft": lambda x: ts.fft.rfft(x),
    "rfft_n": lambda x: ts.fft.rfft(x, n=8, norm="ortho"),
    "rfftn": lambda x: ts.fft.rfftn(x),
    "ihfft": lambda x: ts.fft.ihfft(x),
    "rfft_round_trip": lambda x: ts.fft.irfft(ts.fft.rfft(x) * ts.fft.rfft(x), n=5),  # a circular convolution
}


@pytest.mark.parametrize("name", sorted(REAL_IN_FFTS))
def test_ffts_of_real_inputs(name):
    check(REAL_IN_FFTS[name], [R(3, 5, seed=11)])


def test_stft_complex_matches_the_pairs():
    x = R(64, seed=12)
    win = ts.tensor(np.hanning(16))

    def f(v):
        return ts.audio.stft(v, n_fft=16, hop_length=8, window=win, return_complex=True)

    check(f, [x], tol=1e-6)


def test_the_convention_is_pytorchs():
    # L = sum |z|^2 = sum x^2 + y^2: dL/dx + i dL/dy = 2z (what torch gives), not the Wirtinger z or conj(z).
    z = ts.tensor([1 + 2j, 3 - 1j, -0.5j], dtype=ts.complex128).requires_grad_()
    (ts.abs(z) ** 2).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * np.array([1 + 2j, 3 - 1j, -0.5j]), rtol=1e-15)
    # A holomorphic f: the gradient of Re(sum f(z)) is conj(f'(z)).
    z = ts.tensor([0.3 + 0.7j, -1.1 + 0.2j], dtype=ts.complex128).requires_grad_()
    ts.real(ts.exp(z) * z).sum().backward()
    w = np.array([0.3 + 0.7j, -1.1 + 0.2j])
    np.testing.assert_allclose(z.grad.numpy(), np.conj(np.exp(w) * (w + 1)), rtol=1e-14)


def test_gradient_descent_on_a_complex_parameter():
    target = ts.tensor(cnoise((4,), seed=13))
    z = ts.zeros(4, dtype=ts.complex128).requires_grad_()
    for _ in range(100):
        loss = (ts.abs(z - target) ** 2).sum()
        z.grad = None
        loss.backward()
        with ts.no_grad():
            z -= 0.1 * z.grad
    np.testing.assert_allclose(z.detach().numpy(), target.numpy(), atol=1e-8)


def test_second_order():
    # d/dz of the gradient of a real loss, through create_graph, against differences of the first gradient.
    a = C(3, seed=14)

    def first(x):
        with ts.enable_grad():
            z = x.detach().requires_grad_() if not x.requires_grad else x
            loss = (ts.abs(ts.exp(z) * z) ** 2).sum()
            (g,) = ts.autograd.grad(loss, [z], create_graph=True)
        return g

    check(first, [a], tol=1e-6)


def test_complex64_gradients_follow_complex128():
    a = C(3, 4, seed=16)
    b = C(4, 2, seed=17)
    grads = {}
    for dt in (ts.complex64, ts.complex128):
        x, y = ts.tensor(a).to(dt).requires_grad_(), ts.tensor(b).to(dt).requires_grad_()
        ts.abs(ts.fft.fft(ts.exp(x) @ y)).sum().backward()
        assert x.grad.dtype == dt and y.grad.dtype == dt
        grads[dt] = (x.grad.to(ts.complex128).numpy(), y.grad.to(ts.complex128).numpy())
    for g32, g64 in zip(grads[ts.complex64], grads[ts.complex128]):
        np.testing.assert_allclose(g32, g64, rtol=2e-5, atol=2e-5)


def test_ops_without_a_complex_rule_refuse():
    # Every public op that computes on complex numbers has a complex rule now; the check that refuses any other
    # (graph.cpp's kComplexRules) is tested from C++ (tests/cpp/test_autograd.cpp, ComplexTensorsNeedAComplexRule).
    # Ops that do not compute on complex numbers say so in the forward.
    z = ts.tensor(cnoise((3,), seed=18)).requires_grad_()
    with pytest.raises(TypeError, match=r"\[layer_norm\] expects a floating tensor"):
        ts.nn.functional.layer_norm(z, (3,))
    with pytest.raises(TypeError, match=r"\[sort\] complex tensors cannot be ordered"):
        ts.sort(z)


def test_backward_of_a_complex_scalar_needs_a_gradient():
    z = ts.tensor([1 + 1j, 2 - 1j]).requires_grad_()
    with pytest.raises(ts.Error if hasattr(ts, "Error") else RuntimeError, match="real scalar outputs"):
        (z * z).sum().backward()
    (z * z).sum().backward(ts.tensor(1 + 0j))  # dL/dRe + i dL/dIm of Re(sum z^2): conj(2z)
    np.testing.assert_allclose(z.grad.numpy(), np.conj(2 * np.array([1 + 1j, 2 - 1j])), rtol=1e-15)


def test_complex_leaves_and_their_grad():
    z = ts.tensor([1 + 1j]).requires_grad_()
    assert z.requires_grad and z.is_leaf
    w = ts.ones(2, dtype=ts.complex64, requires_grad=True)
    assert w.requires_grad and w.dtype == ts.complex64
    with pytest.raises(TypeError, match="floating point or complex"):
        ts.tensor([1, 2]).requires_grad_()


def test_gradcheck_and_gradgradcheck_take_complex_inputs():
    from tessel.autograd import gradcheck, gradgradcheck
    z = ts.tensor(cnoise((2, 3), seed=19)).requires_grad_()
    w = ts.tensor(cnoise((3, 2), seed=20)).requires_grad_()
    x = ts.tensor(rnoise((3,), seed=21)).requires_grad_()
    assert gradcheck(lambda a, b: ts.exp(a) @ b, [z, w])
    assert gradcheck(lambda a, r: ts.abs(ts.fft.fft(a * r)), [z, x])
    assert gradgradcheck(lambda a, b: ts.sin(a @ b), [z, w])
    # A wrong rule is caught: test_autograd's custom exp, g * exp(x), is right for real x only (for complex x
    # it is the plain Wirtinger derivative; the convention needs g * conj(exp(x))).
    from test_autograd import ExpFn

    from tessel.autograd.gradcheck import GradcheckError
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(lambda a: ExpFn.apply(a), [z])


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
                                     ("Adam", dict(lr=0.05)), ("AdamW", dict(lr=0.05, amsgrad=True)),
                                     ("RMSprop", dict(lr=0.01, centered=True)), ("Adagrad", dict(lr=0.1)),
                                     ("Adadelta", dict(lr=1.0)), ("Adamax", dict(lr=0.05)), ("NAdam", dict(lr=0.05)),
                                     ("RAdam", dict(lr=0.05))])
def test_optimizers_step_complex_params_as_their_real_pairs(name, kw):
    # PyTorch's semantics: a complex parameter is optimized as its (re, im) pairs, each an independent real.
    target = ts.tensor(cnoise((2, 3), seed=22))
    z = ts.tensor(cnoise((2, 3), seed=23)).requires_grad_()
    x = ts.view_as_real(z.detach()).clone().requires_grad_()
    oz, ox = getattr(ts.optim, name)([z], **kw), getattr(ts.optim, name)([x], **kw)
    for _ in range(7):
        for opt, loss in ((oz, lambda: (ts.abs(ts.exp(z * 0.3) - target) ** 2).sum()),
                          (ox, lambda: (ts.abs(ts.exp(ts.view_as_complex(x) * 0.3) - target) ** 2).sum())):
            opt.zero_grad()
            loss().backward()
            opt.step()
    assert z.dtype == ts.complex128 and z.grad.dtype == ts.complex128
    np.testing.assert_allclose(ts.view_as_real(z.detach()).numpy(), x.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(z.detach().numpy(), cnoise((2, 3), seed=23))  # it moved


def _eye(n):
    return ts.eye(n, dtype=ts.complex128)


LINALG = {  # name: (function of the inputs, input shapes); well conditioned by construction
    "solve": (lambda A, B: ts.linalg.solve(A + 3 * _eye(3), B), [(3, 3), (3, 2)]),
    "solve_batched_vector": (lambda A, b: ts.linalg.solve(A + 3 * _eye(3), b), [(2, 3, 3), (2, 3)]),
    "inv": (lambda A: ts.linalg.inv(A + 3 * _eye(3)), [(3, 3)]),
    "det": (lambda A: ts.linalg.det(A), [(2, 3, 3)]),
    "slogdet": (lambda A: ts.linalg.slogdet(A).logabsdet + ts.real(ts.linalg.slogdet(A).sign * (0.3 + 0.7j)),
                [(3, 3)]),
    "cholesky": (lambda X: ts.linalg.cholesky(X @ X.mH + _eye(3)), [(3, 3)]),
    "solve_triangular": (lambda A, B: ts.linalg.solve_triangular(ts.tril(A) + 3 * _eye(3), B, upper=False),
                         [(3, 3), (3, 2)]),
    "solve_triangular_upper_right": (
        lambda A, B: ts.linalg.solve_triangular(ts.triu(A) + 3 * _eye(3), B, upper=True, left=False),
        [(3, 3), (2, 3)]),
    "eig": (lambda A: ts.abs(ts.linalg.eig(A).eigenvectors) + ts.abs(ts.linalg.eigvals(A)).unsqueeze(0), [(3, 3)]),
}


@pytest.mark.parametrize("name", sorted(LINALG))
def test_linalg_complex(name):
    f, shapes = LINALG[name]
    check(f, [C(*s, seed=30 + k) for k, s in enumerate(shapes)], tol=1e-6)


def _herm(X):
    return X + X.mH


LINALG_FACTORIZATIONS = {  # losses that do not depend on the factors' phases (the usual conditions)
    "qr_square": (lambda A: ts.linalg.qr(A).Q * 0.7 + ts.linalg.qr(A).R, [(3, 3)]),
    "qr_tall": (lambda A: ts.linalg.qr(A).Q.sum(0) + ts.linalg.qr(A).R.sum(0), [(4, 3)]),
    "qr_wide": (lambda A: ts.linalg.qr(A).Q.sum(0) + ts.linalg.qr(A).R.sum(0)[:2], [(2, 4)]),
    "eigvalsh": (lambda X: ts.linalg.eigvalsh(_herm(X)), [(4, 4)]),
    "eigh_vectors": (lambda X: ts.abs(ts.linalg.eigh(_herm(X)).eigenvectors) ** 2, [(3, 3)]),
    "eigh_projector": (lambda X: (lambda V: V[:, :1] @ V[:, :1].mH)(ts.linalg.eigh(_herm(X)).eigenvectors),
                       [(3, 3)]),
    "svdvals": (lambda A: ts.linalg.svdvals(A), [(3, 4)]),
    "svd_reconstruct": (lambda A: (lambda U, S, Vh: (U * S.to(U.dtype)) @ Vh)(*ts.linalg.svd(A, full_matrices=False)),
                        [(4, 3)]),
    "svd_vectors_abs": (lambda A: ts.abs(ts.linalg.svd(A, full_matrices=False).U) + 0.5 * ts.abs(
        ts.linalg.svd(A, full_matrices=False).Vh).sum(), [(3, 3)]),
    "svd_projector_wide": (lambda A: (lambda U, S, Vh: U[:, :1] @ Vh[:1])(*ts.linalg.svd(A, full_matrices=False)),
                           [(2, 4)]),
    "pinv": (lambda A: ts.linalg.pinv(A), [(3, 2)]),
    "lu_factor": (lambda A: ts.linalg.lu_factor(A).LU, [(3, 3)]),
    "lu_tall": (lambda A: (lambda P, L, U: L.sum(0) + U.sum(0))(*ts.linalg.lu(A)), [(4, 3)]),
    "lu_wide": (lambda A: (lambda P, L, U: L.sum(0)[:1] + U.sum(0))(*ts.linalg.lu(A)), [(2, 4)]),
    "lu_solve": (lambda A, B: ts.linalg.lu_solve(*ts.linalg.lu_factor(A + 3 * _eye(3)), B), [(3, 3), (3, 2)]),
}


@pytest.mark.parametrize("name", sorted(LINALG_FACTORIZATIONS))
def test_linalg_factorizations_complex(name):
    f, shapes = LINALG_FACTORIZATIONS[name]
    check(f, [C(*s, seed=40 + k) for k, s in enumerate(shapes)], tol=1e-6)


def test_complex_polar_angle_and_the_part_views():
    re, im = rnoise((2, 3), seed=50), rnoise((3,), seed=51)
    z = ts.complex(ts.tensor(re), ts.tensor(im))
    assert z.dtype == ts.complex128
    np.testing.assert_array_equal(z.numpy(), re + 1j * im)
    r, th = np.abs(rnoise((4,), seed=52)), rnoise((4,), seed=53)
    np.testing.assert_allclose(ts.polar(ts.tensor(r), ts.tensor(th)).numpy(), r * np.exp(1j * th), rtol=1e-15)
    w = cnoise((5,), seed=54)
    np.testing.assert_allclose(ts.angle(ts.tensor(w)).numpy(), np.angle(w), rtol=1e-15)
    x = np.array([-2.0, 0.0, 3.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(ts.angle(ts.tensor(x)).numpy(), np.angle(x))  # NaN stays NaN
    assert float(ts.angle(ts.tensor(-0.0))) == 0.0  # PyTorch's x < 0 test (NumPy's arctan2 gives pi)
    assert ts.angle(ts.tensor([-1, 2])).dtype == ts.float32
    # .real / .imag are views: writes go through; a real tensor's .real is itself, its .imag an error
    t = ts.tensor(cnoise((3,), seed=55))
    t.real[1] = 7.0
    t.imag = ts.tensor([1.0, 2.0, 3.0], dtype=ts.float64)
    assert t.numpy()[1] == 7 + 2j and list(t.numpy().imag) == [1.0, 2.0, 3.0]
    assert ts.tensor([1.0]).real.dtype == ts.float32
    with pytest.raises(RuntimeError, match="non-complex"):
        ts.tensor([1.0]).imag
    with pytest.raises(TypeError, match=r"\[complex\].*same dtype"):
        ts.complex(ts.tensor([1.0]), ts.tensor([1.0], dtype=ts.float64))


def test_complex_polar_angle_gradients():
    check(lambda a, b: ts.complex(a, b) ** 2, [R(3, seed=56), R(3, seed=57)])
    check(lambda r, t: ts.exp(ts.polar(r, t)), [R(3, seed=58, shift=2.0), R(3, seed=59)])
    check(lambda z: ts.angle(z), [C(4, seed=60)])
    check(lambda z: z.real * 2 + z.imag ** 2 + z.angle(), [C(4, seed=61)])


def _index_put(z):
    y = z * 1
    y[ts.tensor([1])] = z[0] * 2j  # IndexPutBackward, through the in-place path
    return y


COMPOSITES = {  # ops built on the rules above, and the rest of the complex-ready rules
    "prod": lambda z: ts.prod(z, 1),
    "prod_with_a_zero": lambda z: ts.prod(ts.cat([z, ts.zeros(2, 1, dtype=ts.complex128)], 1), 1)
    + ts.prod(z[:, :2], 1),
    "cumprod": lambda z: ts.cumprod(z, 1),
    "asin": lambda z: ts.asin(z * 0.3), "acos": lambda z: ts.acos(z * 0.3), "atan": lambda z: ts.atan(z * 0.3),
    "asinh": lambda z: ts.asinh(z * 0.3), "acosh": lambda z: ts.acosh(z + 3), "atanh": lambda z: ts.atanh(z * 0.3),
    "scatter": lambda z: ts.zeros(2, 3, dtype=ts.complex128).scatter(1, ts.tensor([[2, 0, 1], [1, 2, 0]]), z * 2),
    "scatter_add": lambda z: ts.ones(2, 3, dtype=ts.complex128).scatter_add(1, ts.tensor([[0, 0, 1], [2, 2, 2]]), z),
    "index_put": lambda z: _index_put(z),
    "index_add": lambda z: ts.ones(3, 3, dtype=ts.complex128).index_add(0, ts.tensor([2, 0]), z, alpha=1 - 2j),
    "linear": lambda z: ts.nn.functional.linear(z, ts.exp(z[:, :3]), z[0, :2]),
    "linear_module": lambda z: ts.nn.functional.linear(z.reshape(3, 2), z.reshape(3, 2)),
    "masked_fill": lambda z: z.masked_fill(ts.tensor([[True, False, True], [False, False, True]]), 0.5j),
    "var": lambda z: ts.var(z, dim=1), "std": lambda z: ts.std(z),
    "vdot": lambda z: ts.vdot(z[0], z[1]), "vecdot": lambda z: ts.linalg.vecdot(z, z * 1j),
    "einsum": lambda z: ts.einsum("ij,kj->ik", z, ts.exp(z)), "kron": lambda z: ts.kron(z, z[:, :2]),
    "trace": lambda z: ts.trace(z.mT @ z), "roll": lambda z: ts.roll(z, 1, 1) * z,
    "matrix_exp": lambda z: ts.linalg.matrix_exp(z[:, :2] * 0.4), "linalg_norm": lambda z: ts.linalg.norm(z),
    "matrix_norm_nuc": lambda z: ts.linalg.matrix_norm(z, "nuc"), "cross": lambda z: ts.linalg.cross(z[0], z[1]),
    "lstsq": lambda z: ts.linalg.lstsq(z.mT, z[:1].mT).solution,
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composites_and_other_complex_rules(name):
    check(COMPOSITES[name], [C(2, 3, seed=70)], tol=1e-6)
