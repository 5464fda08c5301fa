"""ts.fft against numpy.fft (scipy.fft for the n-d Hermitian transforms), float64 oracles.

The real pair's own tests (rfft / irfft sizes, the STFT) live in test_audio.py.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft

import tessel as ts
from tessel.autograd import gradcheck, gradgradcheck

NORMS = ["backward", "ortho", "forward"]
# Powers of two, mixed radices, direct prime radices (7..61) and Bluestein (primes > 64).
SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 61, 97, 120, 127, 128, 1000, 1009, 2 * 1009, 4096, 3 * 5 * 7 * 11]


def rel_err(got, want):
    got = np.asarray(got.numpy() if isinstance(got, ts.Tensor) else got)
    want = np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = np.abs(want).max() if want.size else 1.0
    return float(np.abs(got - want).max() / max(scale, 1e-300)) if want.size else 0.0


def cnoise(shape, seed, dtype=np.complex128):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def rnoise(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------------------------------------------
# 1-d complex transforms
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", SIZES)
def test_fft_ifft_complex128_match_numpy(n):
    x = cnoise((3, n), seed=n)
    X = ts.fft.fft(ts.tensor(x))
    assert X.dtype == ts.complex128 and tuple(X.shape) == (3, n)
    assert rel_err(X, np.fft.fft(x)) < 1e-14
    assert rel_err(ts.fft.ifft(ts.tensor(x)), np.fft.ifft(x)) < 1e-14
    assert rel_err(ts.fft.ifft(X), x) < 1e-14


@pytest.mark.parametrize("n", [1, 7, 97, 400, 1021, 4096])
def test_fft_complex64(n):
    x = cnoise((5, n), seed=n, dtype=np.complex64)
    X = ts.fft.fft(ts.tensor(x))
    assert X.dtype == ts.complex64
    assert rel_err(X, np.fft.fft(x.astype(np.complex128))) < 1e-6 * max(1.0, np.log2(n))
    assert rel_err(ts.fft.ifft(X), x) < 1e-6 * max(1.0, np.log2(n))


@pytest.mark.parametrize("dtype,want", [(np.float64, ts.complex128), (np.float32, ts.complex64),
                                        (np.int64, ts.complex64), (np.float16, ts.complex64)])
def test_fft_of_real_input_promotes_to_complex(dtype, want):
    x = (rnoise((4, 10), seed=1) * 4).astype(dtype)
    X = ts.fft.fft(ts.tensor(x))
    assert X.dtype == want
    tol = 1e-14 if dtype == np.float64 else 2e-6
    assert rel_err(X, np.fft.fft(x.astype(np.float64))) < tol
    assert rel_err(ts.fft.ifft(ts.tensor(x)), np.fft.ifft(x.astype(np.float64))) < tol


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 3e-6)])
def test_fft_of_many_real_rows_mirrors_rfft(n, dtype, tol):
    # 40 rows along the last dim: rfft's lanes, the bins past n/2 their mirrored conjugates.
    x = rnoise((40, n), seed=n, dtype=dtype)
    t = ts.tensor(x)
    for norm in NORMS:
        assert rel_err(ts.fft.fft(t, norm=norm), np.fft.fft(x.astype(np.float64), norm=norm)) < tol, norm
        assert rel_err(ts.fft.ifft(t, norm=norm), np.fft.ifft(x.astype(np.float64), norm=norm)) < tol, norm
    y = ts.fft.fft(t, n=n + 3)  # zero-padded: the complex kernel, as before
    assert rel_err(y, np.fft.fft(x.astype(np.float64), n=n + 3)) < tol


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 3, 6, 11, 32])  # cut (3) and zero-pad (11, 32) a 6-sample dim
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_fft_dims_lengths_norms(norm, n, dim):
    x = cnoise((6, 6, 6), seed=5)
    for f, g in [(ts.fft.fft, np.fft.fft), (ts.fft.ifft, np.fft.ifft)]:
        assert rel_err(f(ts.tensor(x), n=n, dim=dim, norm=norm), g(x, n=n, axis=dim, norm=norm)) < 1e-14


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 5, 8, 9, 16, 31, 33, 100])  # every lane width, partial chunks
def test_fft_batch_sizes_and_middle_dims(batch):
    x = cnoise((batch, 12, 3), seed=batch)
    for dim in (0, 1, 2):  # lanes stride over the dims after `dim`
        assert rel_err(ts.fft.fft(ts.tensor(x), dim=dim), np.fft.fft(x, axis=dim)) < 1e-14


def test_fft_noncontiguous_input_and_large_threaded_batch():
    x = cnoise((64, 300), seed=3)
    t = ts.tensor(x).transpose(0, 1)  # [300, 64], not contiguous
    assert rel_err(ts.fft.fft(t, dim=0), np.fft.fft(x.T, axis=0)) < 1e-14
    big = cnoise((2000, 256), seed=4, dtype=np.complex64)
    assert rel_err(ts.fft.fft(ts.tensor(big)), np.fft.fft(big.astype(np.complex128))) < 1e-5


@pytest.mark.parametrize("rows", [32, 45, 390])  # whole chunks of lanes, then a tail of 13 or 6 on narrower lanes
@pytest.mark.parametrize("dtype,tol", [(np.complex128, 1e-14), (np.complex64, 2e-6)])
def test_fft_complex_rows_whole_chunks_and_tail(rows, dtype, tol):
    x = cnoise((rows, 256), seed=rows, dtype=dtype)
    for f, g in [(ts.fft.fft, np.fft.fft), (ts.fft.ifft, np.fft.ifft)]:
        assert rel_err(f(ts.tensor(x)), g(x.astype(np.complex128))) < tol


def test_fft_empty_batch():
    X = ts.fft.fft(ts.tensor(np.zeros((0, 8), np.complex128)))
    assert tuple(X.shape) == (0, 8) and X.dtype == ts.complex128
    assert tuple(ts.fft.rfftn(ts.zeros(0, 4, 6, dtype=ts.float64), dim=(1, 2)).shape) == (0, 4, 4)


def test_fft_does_not_modify_or_alias_its_input():
    x = cnoise((4, 8), seed=9)
    t = ts.tensor(x)
    y = ts.fft.fftn(t, dim=())
    assert rel_err(y, x) == 0.0
    y.fill_(0)
    assert rel_err(t, x) == 0.0
    ts.fft.ifft(t)
    assert rel_err(t, x) == 0.0


# ---------------------------------------------------------------------------------------------------------------
# Hermitian pair and the real pair with complex/real input
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 5, 8, 17, 97])
def test_hfft_ihfft_match_numpy(norm, n):
    x = cnoise((3, 9), seed=11)
    assert rel_err(ts.fft.hfft(ts.tensor(x), n=n, norm=norm), np.fft.hfft(x, n=n, norm=norm)) < 1e-13
    r = rnoise((3, 10), seed=12)
    got = ts.fft.ihfft(ts.tensor(r), n=n, norm=norm)
    assert got.dtype == ts.complex128
    assert rel_err(got, np.fft.ihfft(r, n=n, norm=norm)) < 1e-13
    assert rel_err(ts.fft.hfft(ts.tensor(r), n=n, dim=0, norm=norm), np.fft.hfft(r, n=n, axis=0, norm=norm)) < 1e-13


def test_irfft_and_hfft_accept_real_input():
    r = rnoise((4, 7), seed=13)
    assert rel_err(ts.fft.irfft(ts.tensor(r)), np.fft.irfft(r)) < 1e-14
    assert rel_err(ts.fft.irfft(ts.tensor(r), n=9, dim=0), np.fft.irfft(r, n=9, axis=0)) < 1e-14
    assert rel_err(ts.fft.hfft(ts.tensor(r), n=13), np.fft.hfft(r, n=13)) < 1e-14


# ---------------------------------------------------------------------------------------------------------------
# n-d transforms
# ---------------------------------------------------------------------------------------------------------------

ND_CASES = [  # (s, dim) as torch takes them; numpy's axes are the same dims
    (None, None), (None, (0,)), (None, (2, 0)), (None, (-1, -2)), ((4, 9), None), ((3, 5, 7), None),
    ((8,), (1,)), ((5, 4), (0, 2)), ((2, 3), (-3, -1)),
]


def _np_args(x, s, dim):
    axes = dim if dim is not None else (None if s is None else tuple(range(x.ndim - len(s), x.ndim)))
    return dict(s=s, axes=axes)


@pytest.mark.parametrize("s,dim", ND_CASES)
@pytest.mark.parametrize("norm", NORMS)
def test_fftn_ifftn_match_numpy(s, dim, norm):
    x = cnoise((6, 5, 8), seed=21)
    kw = _np_args(x, s, dim)
    assert rel_err(ts.fft.fftn(ts.tensor(x), s=s, dim=dim, norm=norm), np.fft.fftn(x, norm=norm, **kw)) < 1e-14
    assert rel_err(ts.fft.ifftn(ts.tensor(x), s=s, dim=dim, norm=norm), np.fft.ifftn(x, norm=norm, **kw)) < 1e-14
    r = rnoise((6, 5, 8), seed=22)  # real input
    assert rel_err(ts.fft.fftn(ts.tensor(r), s=s, dim=dim, norm=norm), np.fft.fftn(r, norm=norm, **kw)) < 1e-14


@pytest.mark.parametrize("s,dim", ND_CASES)
@pytest.mark.parametrize("norm", NORMS)
def test_rfftn_irfftn_match_numpy(s, dim, norm):
    r = rnoise((6, 5, 8), seed=23)
    kw = _np_args(r, s, dim)
    X = np.fft.rfftn(r, norm=norm, **kw)
    got = ts.fft.rfftn(ts.tensor(r), s=s, dim=dim, norm=norm)
    assert got.dtype == ts.complex128
    assert rel_err(got, X) < 1e-14
    assert rel_err(ts.fft.irfftn(ts.tensor(X), s=s, dim=dim, norm=norm), np.fft.irfftn(X, norm=norm, **kw)) < 1e-14
    x = cnoise((6, 5, 8), seed=24)  # a spectrum that is not Hermitian: numpy's convention for the ignored parts
    assert rel_err(ts.fft.irfftn(ts.tensor(x), s=s, dim=dim, norm=norm), np.fft.irfftn(x, norm=norm, **kw)) < 1e-14
    assert rel_err(ts.fft.irfftn(ts.tensor(r), s=s, dim=dim, norm=norm), np.fft.irfftn(r, norm=norm, **kw)) < 1e-14


@pytest.mark.parametrize("norm", NORMS)
def test_2d_variants_match_numpy(norm):
    x = cnoise((3, 7, 10), seed=31)
    r = rnoise((3, 7, 10), seed=32)
    assert rel_err(ts.fft.fft2(ts.tensor(x), norm=norm), np.fft.fft2(x, norm=norm)) < 1e-14
    assert rel_err(ts.fft.ifft2(ts.tensor(x), s=(4, 12), norm=norm), np.fft.ifft2(x, s=(4, 12), norm=norm)) < 1e-14
    assert rel_err(ts.fft.rfft2(ts.tensor(r), dim=(0, 2), norm=norm), np.fft.rfft2(r, axes=(0, 2), norm=norm)) < 1e-14
    X = np.fft.rfft2(r, norm=norm)
    assert rel_err(ts.fft.irfft2(ts.tensor(X), s=(7, 10), norm=norm), np.fft.irfft2(X, s=(7, 10), norm=norm)) < 1e-14
    assert rel_err(ts.fft.irfft2(ts.tensor(X), norm=norm), np.fft.irfft2(X, norm=norm)) < 1e-14  # last s: 2 * (6 - 1)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s,dim", [(None, None), ((4, 9), None), (None, (0, 2)), ((5, 6), (2, 1))])
def test_hfftn_ihfftn_match_scipy(norm, s, dim):
    x = cnoise((4, 6, 5), seed=41)
    r = rnoise((4, 6, 5), seed=42)
    axes = dim if dim is not None else (None if s is None else (-2, -1))
    assert rel_err(ts.fft.hfftn(ts.tensor(x), s=s, dim=dim, norm=norm),
                   scipy.fft.hfftn(x, s=s, axes=axes, norm=norm)) < 1e-13
    assert rel_err(ts.fft.ihfftn(ts.tensor(r), s=s, dim=dim, norm=norm),
                   scipy.fft.ihfftn(r, s=s, axes=axes, norm=norm)) < 1e-13
    assert rel_err(ts.fft.hfft2(ts.tensor(x), norm=norm), scipy.fft.hfft2(x, norm=norm)) < 1e-13
    assert rel_err(ts.fft.ihfft2(ts.tensor(r), norm=norm), scipy.fft.ihfft2(r, norm=norm)) < 1e-13


def test_s_minus_one_keeps_the_input_size():
    x = cnoise((4, 6), seed=51)
    assert rel_err(ts.fft.fftn(ts.tensor(x), s=(-1, 9)), np.fft.fftn(x, s=(4, 9), axes=(0, 1))) < 1e-14
    X = np.fft.rfftn(rnoise((4, 6), seed=52))
    assert rel_err(ts.fft.irfftn(ts.tensor(X), s=(5, -1)), np.fft.irfftn(X, s=(5, 6), axes=(0, 1))) < 1e-14


# ---------------------------------------------------------------------------------------------------------------
# Array API aliases, frequencies, shifts
# ---------------------------------------------------------------------------------------------------------------

def test_axis_and_axes_are_aliases_of_dim():
    x = cnoise((4, 6, 5), seed=61)
    t = ts.tensor(x)
    assert rel_err(ts.fft.fft(t, axis=1, n=7), np.fft.fft(x, axis=1, n=7)) < 1e-14
    assert rel_err(ts.fft.fftn(t, axes=(0, 2)), np.fft.fftn(x, axes=(0, 2))) < 1e-14
    assert rel_err(ts.fft.rfftn(ts.tensor(x.real.copy()), axes=[1]), np.fft.rfftn(x.real, axes=[1])) < 1e-14
    assert rel_err(ts.fft.fftshift(t, axes=1), np.fft.fftshift(x, axes=1)) == 0.0
    with pytest.raises(TypeError, match="axis"):
        ts.fft.fft(t, dim=0, axis=1)
    with pytest.raises(TypeError, match="axes"):
        ts.fft.fft2(t, dim=(0, 1), axes=(1, 2))


@pytest.mark.parametrize("n", [1, 2, 7, 8, 101])
@pytest.mark.parametrize("d", [1.0, 0.25, 3.0])
def test_fftfreq_rfftfreq(n, d):
    f = ts.fft.fftfreq(n, d, dtype=ts.float64)
    assert f.dtype == ts.float64 and rel_err(f, np.fft.fftfreq(n, d)) < 1e-15
    assert rel_err(ts.fft.rfftfreq(n, d, dtype=ts.float64), np.fft.rfftfreq(n, d)) < 1e-15
    f32 = ts.fft.fftfreq(n, d)
    assert f32.dtype == ts.get_default_dtype()
    np.testing.assert_array_equal(f32.numpy(), np.fft.fftfreq(n, d).astype(np.float32))
    assert ts.fft.rfftfreq(n, d=d).dtype == ts.get_default_dtype()


def test_fftfreq_arguments():
    assert tuple(ts.fft.fftfreq(0).shape) == (0,)
    assert ts.fft.fftfreq(4, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="n >= 0"):
        ts.fft.fftfreq(-1)
    with pytest.raises(TypeError, match="integer"):
        ts.fft.rfftfreq(4.0)
    with pytest.raises(TypeError, match="floating"):
        ts.fft.fftfreq(4, dtype=ts.int64)


@pytest.mark.parametrize("shape", [(7,), (8,), (3, 4), (5, 6, 7)])
def test_fftshift_ifftshift(shape):
    x = rnoise(shape, seed=71)
    t = ts.tensor(x)
    assert rel_err(ts.fft.fftshift(t), np.fft.fftshift(x)) == 0.0
    assert rel_err(ts.fft.ifftshift(t), np.fft.ifftshift(x)) == 0.0
    assert rel_err(ts.fft.ifftshift(ts.fft.fftshift(t)), x) == 0.0
    assert rel_err(ts.fft.fftshift(t, dim=-1), np.fft.fftshift(x, axes=-1)) == 0.0
    assert rel_err(ts.fft.ifftshift(t, dim=(0,)), np.fft.ifftshift(x, axes=(0,))) == 0.0


def test_fftshift_of_fftfreq_is_sorted():
    f = ts.fft.fftshift(ts.fft.fftfreq(9, dtype=ts.float64)).numpy()
    assert np.all(np.diff(f) > 0)


# ---------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------

def test_errors():
    x = ts.tensor(cnoise((4, 6), seed=81))
    r = ts.tensor(rnoise((4, 6), seed=82))
    with pytest.raises(ValueError, match="norm"):
        ts.fft.fft(x, norm="both")
    with pytest.raises(ValueError, match="norm"):
        ts.fft.ihfft(r, norm="nope")
    for f in (ts.fft.fft, ts.fft.ifft, ts.fft.hfft, ts.fft.ihfft, ts.fft.rfft, ts.fft.irfft):
        arg = r if f in (ts.fft.ihfft, ts.fft.rfft) else x
        with pytest.raises(ValueError, match="number of data points"):
            f(arg, n=0)
        with pytest.raises(IndexError, match="dim"):
            f(arg, dim=2)
        with pytest.raises(ValueError, match="0-d"):
            f(ts.tensor(1.0))
    with pytest.raises(ValueError, match="unique"):
        ts.fft.fftn(x, dim=(0, -2))
    with pytest.raises(ValueError, match="same length"):
        ts.fft.fftn(x, s=(2, 3), dim=(0,))
    with pytest.raises(ValueError, match="sizes"):
        ts.fft.fftn(x, s=(2, 3, 4))
    with pytest.raises(ValueError, match="data points"):
        ts.fft.ifftn(x, s=(0, 3))
    with pytest.raises(IndexError, match="dim"):
        ts.fft.rfftn(r, dim=(5,))
    with pytest.raises(ValueError, match="at least one dim"):
        ts.fft.rfftn(r, dim=())
    with pytest.raises(TypeError, match="real"):
        ts.fft.rfft2(x)
    with pytest.raises(TypeError, match="real"):
        ts.fft.ihfft(x)
    with pytest.raises(TypeError, match="bool"):
        ts.fft.fft(ts.tensor([True, False]))
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        ts.fft.fft_real(r)
    with pytest.raises(ValueError, match="data points"):
        ts.fft.irfft(ts.tensor(cnoise((1,), seed=1)))  # 2 * (1 - 1) = 0 samples


def test_complex_results_differentiate_as_their_real_pairs():
    # Complex autograd (test_complex_autograd.py checks it against differences): fft of a real input and
    # fft_real of its (re, 0) pairs give the same gradient.
    for f, pairs in ((ts.fft.fft, lambda v: ts.fft.fft_real(ts.stack([v, ts.zeros_like(v)], -1))),
                     (ts.fft.ifft, lambda v: ts.fft.ifft_real(ts.stack([v, ts.zeros_like(v)], -1)))):
        r = ts.tensor(rnoise((4, 6), seed=83)).requires_grad_()
        ts.abs(f(r)).sum().backward()
        q = ts.tensor(rnoise((4, 6), seed=83)).requires_grad_()
        ts.linalg.vector_norm(pairs(q), dim=-1).sum().backward()
        np.testing.assert_allclose(r.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------------------------
# Gradients (finite differences in float64)
# ---------------------------------------------------------------------------------------------------------------

def R(*shape, seed=0):
    return ts.tensor(rnoise(shape, seed=seed)).requires_grad_()


def test_fft_real_matches_the_complex_transform():
    x = cnoise((3, 5, 6), seed=91)
    pairs = ts.tensor(np.stack([x.real, x.imag], -1))
    for f, g in [(ts.fft.fft_real, np.fft.fft), (ts.fft.ifft_real, np.fft.ifft)]:
        for n, dim, norm in [(None, -1, None), (9, 1, "ortho"), (2, 0, "forward")]:
            want = g(x, n=n, axis=dim, norm=norm)
            assert rel_err(f(pairs, n=n, dim=dim, norm=norm), np.stack([want.real, want.imag], -1)) < 1e-14


GRAD_CASES = {
    "fft_real": (lambda a: ts.fft.fft_real(a), [(3, 5, 2)]),
    "fft_real_pad_ortho": (lambda a: ts.fft.fft_real(a, n=7, dim=0, norm="ortho"), [(4, 3, 2)]),
    "fft_real_cut_forward": (lambda a: ts.fft.fft_real(a, n=3, dim=1, norm="forward"), [(2, 5, 2)]),
    "ifft_real": (lambda a: ts.fft.ifft_real(a, n=6), [(2, 4, 2)]),
    "ifft_real_bluestein": (lambda a: ts.fft.ifft_real(a), [(1, 67, 2)]),
    "irfft_real_input": (lambda a: ts.fft.irfft(a, n=7), [(3, 4)]),
    "irfftn_real_input": (lambda a: ts.fft.irfftn(a, s=(5, 6), norm="ortho"), [(4, 4)]),  # real-input c2c path
    "irfft2_pairs": (lambda a: ts.fft.irfftn(a, dim=(0, 1)), [(3, 4)]),
    "hfft_real_input": (lambda a: ts.fft.hfft(a, n=8, dim=0), [(5, 2)]),
    "fft_real_chain": (lambda a: ts.fft.ifft_real(ts.fft.fft_real(a, dim=0) * a, dim=1, n=4), [(3, 3, 2)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck(name):
    f, shapes = GRAD_CASES[name]
    xs = [R(*s, seed=i + 1) for i, s in enumerate(shapes)]
    assert gradcheck(f, xs)


@pytest.mark.parametrize("name", ["fft_real_pad_ortho", "fft_real_cut_forward", "irfftn_real_input", "fft_real_chain"])
def test_gradgradcheck(name):
    f, shapes = GRAD_CASES[name]
    xs = [R(*s, seed=i + 1) for i, s in enumerate(shapes)]
    assert gradgradcheck(f, xs)


def test_parseval_gradient():
    # sum |fft(x)|^2 = n sum |x|^2, so its gradient is 2 n x.
    x = R(4, 6, 2, seed=7)
    ts.fft.fft_real(x, dim=0).square().sum().backward()
    assert rel_err(x.grad, 2 * 4 * x.detach().numpy()) < 1e-13


@pytest.mark.parametrize("rows", [1, 2, 7, 8, 15, 16, 17, 40])  # few rows run the complex kernel, many the lanes
@pytest.mark.parametrize("n", [16, 97, 256, 1000])  # 256: m = 128 = 16 x 8, the radix-8 stage last
def test_rfft_irfft_any_row_count(rows, n):
    for dtype, tol in [(np.float64, 1e-13), (np.float32, 2e-6 * np.log2(n))]:
        x = rnoise((rows, n), seed=rows, dtype=dtype)
        X = ts.fft.rfft(ts.tensor(x))
        assert rel_err(X, np.fft.rfft(x.astype(np.float64))) < tol
        Xn = np.fft.rfft(x.astype(np.float64))
        Xn[:, 0] += 2j  # ignored imaginary DC (and Nyquist for even n), as numpy does
        Xn[:, -1] += 3j
        got = ts.fft.irfft(ts.tensor(Xn.astype(np.complex128 if dtype == np.float64 else np.complex64)), n=n)
        assert rel_err(got, np.fft.irfft(Xn, n=n)) < tol


@pytest.mark.parametrize("rows", [1, 3])  # fewer rows than half the lanes: an n/2-point transform and a split step
@pytest.mark.parametrize("n", [2, 6, 4096, 2 * 4099, 3 * 4096, 65536, 4097])
def test_few_long_real_signals(rows, n):
    for dtype, tol in [(np.float64, 1e-13), (np.float32, 3e-6 * np.log2(n + 1))]:
        x = rnoise((rows, n), seed=n + rows, dtype=dtype)
        X = np.fft.rfft(x.astype(np.float64))
        assert rel_err(ts.fft.rfft(ts.tensor(x)), X) < tol
        Xj = X.copy()
        Xj[:, 0] += 2j  # ignored imaginary DC (and Nyquist for even n), as numpy does
        Xj[:, -1] += 3j
        cdt = np.complex64 if dtype == np.float32 else np.complex128
        assert rel_err(ts.fft.irfft(ts.tensor(Xj.astype(cdt)), n=n), np.fft.irfft(Xj, n=n)) < tol
        assert rel_err(ts.fft.irfft(ts.tensor(X.astype(cdt)), n=n, norm="ortho"), np.fft.irfft(X, n=n, norm="ortho")) < tol


@pytest.mark.parametrize("n", [4096, 5000, 6561, 2 * 4099, 65536])  # one long signal: the four-step split
def test_single_long_signal(n):
    x = cnoise((n,), seed=n)
    assert rel_err(ts.fft.fft(ts.tensor(x)), np.fft.fft(x)) < 1e-13
    assert rel_err(ts.fft.ifft(ts.tensor(x), norm="ortho"), np.fft.ifft(x, norm="ortho")) < 1e-13
    assert rel_err(ts.fft.fft(ts.tensor(x), n=n + 4), np.fft.fft(x, n=n + 4)) < 1e-13  # zero-padded
    assert rel_err(ts.fft.fft(ts.tensor(x), n=n - 8), np.fft.fft(x, n=n - 8)) < 1e-13  # cut
    r = x.real.copy()
    assert rel_err(ts.fft.fft(ts.tensor(r)), np.fft.fft(r)) < 1e-13
    assert rel_err(ts.fft.rfft(ts.tensor(r)), np.fft.rfft(r)) < 1e-13
    X = np.fft.rfft(r)
    assert rel_err(ts.fft.irfft(ts.tensor(X), n=n), r) < 1e-13
    x32 = x.astype(np.complex64)
    assert rel_err(ts.fft.fft(ts.tensor(x32)), np.fft.fft(x32.astype(np.complex128))) < 1e-5
    assert rel_err(ts.fft.fft(ts.tensor(x.reshape(n, 1)), dim=0), np.fft.fft(x.reshape(n, 1), axis=0)) < 1e-13


@pytest.mark.parametrize("dtype,tol", [(np.complex128, 1e-13), (np.complex64, 2e-5)])
def test_transforms_along_leading_dims_read_neighbouring_columns(dtype, tol):
    # 70 columns per slab: chunks of lanes that lie in one slab read each row as one run, the chunk that
    # crosses into the next slab and the last partial chunk do not
    x = cnoise((3, 40, 70), seed=11, dtype=dtype)
    for dim in (0, 1):
        assert rel_err(ts.fft.fft(ts.tensor(x), dim=dim), np.fft.fft(x, axis=dim)) < tol
        assert rel_err(ts.fft.ifft(ts.tensor(x), n=45, dim=dim, norm="ortho"),
                       np.fft.ifft(x, n=45, axis=dim, norm="ortho")) < tol
        r = x.real.copy()
        assert rel_err(ts.fft.fft(ts.tensor(r), dim=dim), np.fft.fft(r, axis=dim)) < tol


_ROWS256 = r"""
import numpy as np, tessel as ts
worst = 0.0
def err(got, want):
    g = np.asarray(ts.view_as_real(got)).astype(np.float64)
    return np.abs(g[..., 0] + 1j * g[..., 1] - want).max() / np.abs(want).max()
for rows in (1, 2, 3, 33):
    for n in (256, 1024, 1536, 8192):  # real: 256 in registers, 2 m (m a multiple of 256) as m complex + split;
        # irfft of those (but 256) as the inverse split and the complex rows backwards
        x = np.random.default_rng(rows + n).standard_normal((rows, n)).astype(np.float32)
        t, x64 = ts.from_numpy(x), x.astype(np.float64)
        worst = max(worst, err(ts.fft.rfft(t), np.fft.rfft(x64)), err(ts.fft.ifft(t), np.fft.ifft(x64)))
        for nm in ("backward", "ortho", "forward"):
            worst = max(worst, err(ts.fft.fft(t, norm=nm), np.fft.fft(x64, norm=nm)))
        X = np.fft.rfft(x64)
        X[:, 0] += 2j  # ignored imaginary DC and Nyquist, as numpy does
        X[:, -1] -= 3j
        back = np.asarray(ts.fft.irfft(ts.tensor(X.astype(np.complex64)), n=n)).astype(np.float64)
        worst = max(worst, np.abs(back - np.fft.irfft(X, n=n)).max() / np.abs(x64).max())
    for n in (256, 512, 768, 1024, 4096):  # complex: 256 in registers, other multiples of 256 in 16 x n/16
        rng = np.random.default_rng(rows + n)
        z = (rng.standard_normal((rows, n)) + 1j * rng.standard_normal((rows, n))).astype(np.complex64)
        for f in ("fft", "ifft"):
            for nm in ("backward", "ortho", "forward"):
                worst = max(worst, err(getattr(ts.fft, f)(ts.tensor(z), norm=nm),
                                       getattr(np.fft, f)(z.astype(np.complex128), norm=nm)))
print(ts.backends.cpu.get_cpu_capability(), worst)
"""


@pytest.mark.parametrize("isa", [None, "avx2"])
def test_float32_rows_of_256_match_numpy_on_each_path(isa):
    # Rows of 256 samples (real: two at a time; complex: one) run on AVX-512 in registers, complex
    # rows of 256 k points in 16 lanes of n/16 (kernels/cpu/fft_avx512.h); elsewhere (and with
    # TESSEL_VECMATH=avx2) on the lanes: odd row counts, fft's mirrored half, inverse, norms.
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if isa == "avx2" and " avx2" not in flags:
        pytest.skip("this CPU has no AVX2")
    env = dict(os.environ)
    env.pop("TESSEL_VECMATH", None)
    if isa:
        env["TESSEL_VECMATH"] = isa
    p = subprocess.run([sys.executable, "-c", _ROWS256], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    cap, worst = p.stdout.split()
    assert cap == "AVX2" if isa else cap in ("AVX512", "AVX2", "DEFAULT")  # native: whatever this CPU has
    assert float(worst) < 2e-6 * 12, worst
