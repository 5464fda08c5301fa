"""Conformance of ts.fft and ts.audio against the reference libraries.

numpy.fft for rfft/irfft; librosa for the STFT, mel filters, mel spectrograms,
MFCC and decibels (called with torchaudio's defaults for preset="torchaudio",
which is torchaudio's own pipeline); a NumPy float64 transcription of
torchaudio.functional.resample (torchaudio is not installable here) and soxr
for resampling; soundfile (libsndfile) for files. Inputs are generated: tones,
chirps, white noise and speech from espeak-ng. Tolerances follow the libraries'
own compatibility tests: ~1e-4 relative to the largest magnitude for
spectrograms, 5e-4 for mel and MFCC.
"""
import io
import math
import os
import shutil
import subprocess
import sys
import textwrap
import wave

import numpy as np
import pytest

import tessel as ts
from tessel.autograd import gradcheck, gradgradcheck

scipy_signal = pytest.importorskip("scipy.signal", reason="scipy is a test dependency of the audio module")
librosa = pytest.importorskip("librosa", reason="librosa is the reference for the audio features")

# torchaudio's preset (n_fft 400, 128 mels) leaves some mel bands without an FFT bin: librosa warns, as torchaudio does.
pytestmark = pytest.mark.filterwarnings("ignore:Empty filters detected in mel frequency basis")

RNG_SEED = 1234
SR = 16000


def T(a, dtype=None):
    """A tessel tensor copied from array-like `a` (float64 kept unless dtype is given)."""
    a = np.asarray(a)
    if dtype is not None:
        a = a.astype({ts.float32: np.float32, ts.float64: np.float64}[dtype])
    return ts.tensor(np.array(a, order="C"))  # (ascontiguousarray would make 0-d arrays 1-d)


def N(t):
    """A tessel tensor as a NumPy array (a copy)."""
    return np.array(t)


def rel_err(got, want):
    """max |got - want| relative to max |want|."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def tone(freq, sr=SR, seconds=1.0, amp=0.5, phase=0.0):
    t = np.arange(int(round(sr * seconds))) / sr
    return amp * np.sin(2 * np.pi * freq * t + phase)


def chirp(sr=SR, seconds=1.0, f0=50.0, f1=None):
    t = np.arange(int(round(sr * seconds))) / sr
    return 0.5 * scipy_signal.chirp(t, f0=f0, t1=seconds, f1=f1 or 0.45 * sr, method="logarithmic")


def noise(n, seed=RNG_SEED, amp=0.3, shape=()):
    return amp * np.random.default_rng(seed).standard_normal(tuple(shape) + (n,))


def mixture(sr=SR, seconds=1.0):
    """Chirp + tones + a little noise: broadband, deterministic."""
    n = int(round(sr * seconds))
    return 0.5 * chirp(sr, seconds) + tone(440, sr, seconds, 0.2) + tone(3000, sr, seconds, 0.1) + noise(n, amp=0.01)


# ---------------------------------------------------------------------------------------------------------------
# rfft / irfft
# ---------------------------------------------------------------------------------------------------------------

FFT_SIZES = [1, 2, 3, 5, 7, 8, 13, 97, 127, 400, 1000, 2048, 2 * 3 * 5 * 7 * 11]


@pytest.mark.parametrize("n", FFT_SIZES)
def test_rfft_irfft_match_numpy_float64(n):
    x = noise(n, seed=n, shape=(3,))
    X = ts.fft.rfft(T(x))
    assert X.dtype == ts.complex128 and tuple(X.shape) == (3, n // 2 + 1)
    assert rel_err(N(X), np.fft.rfft(x)) < 1e-13
    Xn = np.fft.rfft(x)
    y = ts.fft.irfft(T(Xn), n=n)
    assert y.dtype == ts.float64
    assert rel_err(N(y), np.fft.irfft(Xn, n=n)) < 1e-13


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
@pytest.mark.parametrize("n", [None, 6, 9, 64])  # trim (6) and zero-pad (9, 64) an 8-sample dim
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_rfft_dims_lengths_norms(norm, n, dim):
    x = noise(8 * 5 * 8, seed=7).reshape(8, 5, 8)
    got = N(ts.fft.rfft(T(x), n=n, dim=dim, norm=norm))
    want = np.fft.rfft(x, n=n, axis=dim, norm=norm)
    assert rel_err(got, want) < 1e-13
    m = n or x.shape[dim]
    back = N(ts.fft.irfft(T(want), n=m, dim=dim, norm=norm))
    assert rel_err(back, np.fft.irfft(want, n=m, axis=dim, norm=norm)) < 1e-13


@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_irfft_default_length_and_bin_count_mismatch(norm):
    X = np.fft.rfft(noise(10, seed=3, shape=(2,)))  # 6 bins
    assert rel_err(N(ts.fft.irfft(T(X), norm=norm)), np.fft.irfft(X, norm=norm)) < 1e-13  # n = 2 * (6 - 1)
    for n in (4, 7, 16, 21):  # fewer bins needed (cut) and more (zero-padded)
        assert rel_err(N(ts.fft.irfft(T(X), n=n, norm=norm)), np.fft.irfft(X, n=n, norm=norm)) < 1e-13


def test_irfft_ignores_imaginary_dc_and_nyquist_like_numpy():
    X = np.fft.rfft(noise(16, seed=4)) + 0.0
    X[0] += 3j
    X[-1] += 5j
    assert rel_err(N(ts.fft.irfft(T(X), n=16)), np.fft.irfft(X, n=16)) < 1e-13


@pytest.mark.parametrize("n", [1, 7, 400, 2048, 1021])
def test_rfft_float32(n):
    x = noise(n, seed=n, shape=(4,)).astype(np.float32)
    X = ts.fft.rfft(T(x))
    assert X.dtype == ts.complex64
    want = np.fft.rfft(x.astype(np.float64))
    assert rel_err(N(X), want) < 2e-6 * max(1.0, math.log2(n))
    y = ts.fft.irfft(X, n=n)
    assert y.dtype == ts.float32
    assert rel_err(N(y), x) < 1e-5


def test_rfft_batched_float32_matches_numpy():
    x = noise(400, seed=11, shape=(1001,)).astype(np.float32)  # many rows: the threaded lane path
    assert rel_err(N(ts.fft.rfft(T(x))), np.fft.rfft(x.astype(np.float64))) < 1e-5


def test_rfftfreq():
    for n, d in [(1, 1.0), (8, 0.5), (9, 1 / 16000)]:
        assert np.allclose(N(ts.fft.rfftfreq(n, d, dtype=ts.float64)), np.fft.rfftfreq(n, d), rtol=1e-12, atol=0)


def test_fft_errors_name_the_op():
    with pytest.raises(TypeError, match=r"\[rfft\].*real"):
        ts.fft.rfft(T(np.ones(4, dtype=np.complex128)))
    with pytest.raises(ValueError, match=r"\[rfft\] norm .*\"bogus\""):
        ts.fft.rfft(T(np.ones(4)), norm="bogus")
    with pytest.raises(ValueError, match=r"\[irfft\] norm .*\"bogus\""):
        ts.fft.irfft(T(np.ones(3, dtype=np.complex128)), norm="bogus")
    with pytest.raises(ValueError, match=r"\[rfft\].*0-d"):
        ts.fft.rfft(ts.tensor(1.0))
    with pytest.raises(ValueError, match=r"\[irfft\].*0-d"):
        ts.fft.irfft(T(np.complex128(1)))
    with pytest.raises(TypeError, match=r"\[irfft\].*bool"):
        ts.fft.irfft(T(np.ones(4, dtype=bool)))  # real input is fine (imaginary parts 0), as in numpy
    with pytest.raises(ValueError, match=r"\[rfft\].*n=0"):
        ts.fft.rfft(T(np.ones(4)), n=0)
    with pytest.raises(IndexError, match=r"\[rfft\].*dim 3"):
        ts.fft.rfft(T(np.ones((2, 4))), dim=3)
    with pytest.raises(ValueError, match=r"\[irfft\]"):
        ts.fft.irfft_real(T(np.ones((4, 3))), 4)  # not (re, im) pairs


def test_rfft_differentiates_as_its_real_pairs():
    # rfft's complex result carries gradients (complex autograd): the same as rfft_real's pairs.
    x = T(noise(8)).requires_grad_()
    ts.abs(ts.fft.rfft(x)).sum().backward()
    y = T(noise(8)).requires_grad_()
    ts.linalg.vector_norm(ts.fft.rfft_real(y), dim=-1).sum().backward()
    np.testing.assert_allclose(N(x.grad), N(y.grad), rtol=1e-12, atol=1e-14)


def test_rfft_real_is_the_view_of_rfft():
    x = noise(12, seed=5, shape=(2,))
    r = N(ts.fft.rfft_real(T(x)))
    assert r.shape == (2, 7, 2)
    want = np.fft.rfft(x)
    assert rel_err(r[..., 0] + 1j * r[..., 1], want) < 1e-13
    r = N(ts.fft.rfft_real(T(x), 5, "ortho"))
    assert rel_err(r[..., 0] + 1j * r[..., 1], np.fft.rfft(x, 5, norm="ortho")) < 1e-13
    y = N(ts.fft.irfft_real(T(np.stack([want.real, want.imag], -1)), 12))
    assert rel_err(y, x) < 1e-13


@pytest.mark.parametrize("n_in,n", [(8, None), (7, None), (6, 9), (9, 5), (1, None), (2, 3)])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_rfft_real_gradcheck(n_in, n, norm):
    x = T(noise(n_in, seed=n_in, shape=(2,))).requires_grad_()
    assert gradcheck(lambda v: ts.fft.rfft_real(v, n, norm), [x])


@pytest.mark.parametrize("bins,n", [(5, 8), (4, 7), (5, 6), (3, 9), (1, 1), (2, 2)])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_irfft_real_gradcheck(bins, n, norm):
    X = T(noise(bins * 2, seed=bins).reshape(1, bins, 2)).requires_grad_()
    assert gradcheck(lambda v: ts.fft.irfft_real(v, n, norm), [X])


def test_fft_real_gradgradcheck():
    x = T(noise(6, seed=2)).requires_grad_()
    assert gradgradcheck(lambda v: ts.fft.rfft_real(v) ** 2, [x])
    X = T(noise(8, seed=3).reshape(4, 2)).requires_grad_()
    assert gradgradcheck(lambda v: ts.fft.irfft_real(v, 7) ** 2, [X])


# ---------------------------------------------------------------------------------------------------------------
# windows, STFT, ISTFT
# ---------------------------------------------------------------------------------------------------------------

WINDOWS = [("hann", "hann"), ("hamming", "hamming"), ("blackman", "blackman"), ("bartlett", "bartlett"),
           ("rectangular", "boxcar")]


@pytest.mark.parametrize("length", [1, 2, 7, 400, 512])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("name,scipy_name", WINDOWS)
def test_window_matches_scipy(name, scipy_name, periodic, length):
    got = N(ts.audio.window(name, length, periodic=periodic, dtype=ts.float64))
    want = scipy_signal.get_window(scipy_name, length, fftbins=periodic)
    assert np.allclose(got, want, rtol=0, atol=1e-12), name


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("beta", [0.5, 8.6, 12.0, 14.769656459379492])
def test_kaiser_window_matches_scipy(beta, periodic):
    got = N(ts.audio.window("kaiser", 64, periodic=periodic, beta=beta, dtype=ts.float64))
    assert np.allclose(got, scipy_signal.get_window(("kaiser", beta), 64, fftbins=periodic), rtol=0, atol=1e-12)


def test_window_defaults_and_dtype():
    w = ts.audio.window()
    assert w.dtype == ts.float32 and tuple(w.shape) == (400,)
    assert np.allclose(N(w), scipy_signal.get_window("hann", 400), atol=1e-7)
    assert tuple(ts.audio.window("hann", 0).shape) == (0,)


STFT_CASES = [
    # n_fft, hop, win_length, window, center, pad_mode
    (400, None, None, "hann", True, "reflect"),
    (400, None, None, "hann", True, "constant"),
    (512, 128, None, "hamming", True, "constant"),
    (512, 100, 300, "hann", True, "reflect"),   # win_length < n_fft: the window is centred in n_fft
    (400, 160, 255, "hamming", True, "constant"),  # odd win_length
    (256, 64, None, "hann", False, "reflect"),
    (255, 50, 200, "hann", False, "constant"),  # odd n_fft
    (2048, 512, None, "hann", True, "constant"),
]


@pytest.mark.parametrize("n_fft,hop,win,window,center,pad_mode", STFT_CASES)
def test_stft_matches_librosa(n_fft, hop, win, window, center, pad_mode):
    x = mixture(seconds=0.5)
    w = ts.audio.window(window, win or n_fft, dtype=ts.float64)
    got = ts.audio.stft(T(x), n_fft=n_fft, hop_length=hop, win_length=win, window=w, center=center,
                        pad_mode=pad_mode)
    want = librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=center,
                        pad_mode=pad_mode)
    assert got.dtype == ts.complex128
    assert rel_err(N(got), want) < 1e-10
    # float32 input computes in float32
    got32 = ts.audio.stft(T(x, ts.float32), n_fft=n_fft, hop_length=hop, win_length=win,
                          window=ts.audio.window(window, win or n_fft), center=center, pad_mode=pad_mode)
    assert got32.dtype == ts.complex64
    assert rel_err(N(got32), want) < 1e-4
    # (re, im) pairs
    pairs = N(ts.audio.stft(T(x), n_fft=n_fft, hop_length=hop, win_length=win, window=w, center=center,
                            pad_mode=pad_mode, return_complex=False))
    assert pairs.shape == want.shape + (2,)
    assert rel_err(pairs[..., 0] + 1j * pairs[..., 1], want) < 1e-10


def test_stft_defaults_are_hann_and_quarter_hop():
    x = mixture(seconds=0.25)
    got = ts.audio.stft(T(x))  # n_fft 400, hop 100, periodic Hann, centre, reflect
    want = librosa.stft(x, n_fft=400, pad_mode="reflect")  # hop = win_length // 4, hann
    assert rel_err(N(got), want) < 1e-10
    got = ts.audio.stft(T(x), n_fft=512, win_length=256)  # hop follows win_length: 64
    assert rel_err(N(got), librosa.stft(x, n_fft=512, win_length=256, pad_mode="reflect")) < 1e-10


def test_stft_multichannel_and_batch():
    x = np.stack([mixture(seconds=0.25), noise(4000, seed=9)])
    got = N(ts.audio.stft(T(x.reshape(1, 2, -1)), n_fft=256, hop_length=64))
    assert got.shape[:2] == (1, 2)
    for c in range(2):
        assert rel_err(got[0, c], librosa.stft(x[c], n_fft=256, hop_length=64, pad_mode="reflect")) < 1e-10


def test_stft_normalized():
    x = noise(2000, seed=12)
    w = scipy_signal.get_window("hann", 256)
    got = N(ts.audio.stft(T(x), n_fft=256, hop_length=64, normalized=True))
    want = librosa.stft(x, n_fft=256, hop_length=64, pad_mode="reflect") / np.sqrt(np.sum(w ** 2))
    assert rel_err(got, want) < 1e-10


@pytest.mark.parametrize("n_fft,hop,win,center", [(400, None, None, True), (512, 128, 300, True),
                                                  (256, 64, None, False), (255, 60, None, True)])
@pytest.mark.parametrize("length_offset", [0, -37])
def test_istft_round_trip(n_fft, hop, win, center, length_offset):
    x = mixture(seconds=0.3)
    spec = ts.audio.stft(T(x), n_fft=n_fft, hop_length=hop, win_length=win, center=center)
    if not center:
        # A periodic Hann window is 0 at its first sample, so without centring the overlap-add envelope is 0
        # at sample 0 and the NOLA check refuses (as torch.istft does); a Hamming window never reaches 0.
        with pytest.raises(ValueError, match="NOLA"):
            ts.audio.istft(spec, n_fft=n_fft, hop_length=hop, center=False)
        w = ts.audio.window("hamming", n_fft, dtype=ts.float64)
        spec = ts.audio.stft(T(x), n_fft=n_fft, hop_length=hop, window=w, center=False)
        y = N(ts.audio.istft(spec, n_fft=n_fft, hop_length=hop, window=w, center=False))
        assert len(y) == n_fft + hop * ((len(x) - n_fft) // hop)
        assert np.max(np.abs(y - x[:len(y)])) < 1e-10
    if center:
        n = len(x) + length_offset
        y = N(ts.audio.istft(spec, n_fft=n_fft, hop_length=hop, win_length=win, center=center, length=n))
        assert y.shape == (n,)
        assert np.max(np.abs(y - x[:n])) < 1e-10
        want = librosa.istft(librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win, pad_mode="reflect"),
                             n_fft=n_fft, hop_length=hop, win_length=win, length=n)
        assert np.max(np.abs(y - want)) < 1e-10
    # (re, im) input, float32, batch
    xb = np.stack([x, x[::-1]]).astype(np.float32)
    pairs = ts.audio.stft(T(xb), n_fft=n_fft, hop_length=hop, win_length=win, center=True, return_complex=False)
    yb = N(ts.audio.istft(pairs, n_fft=n_fft, hop_length=hop, win_length=win, length=len(x)))
    assert yb.shape == xb.shape and np.max(np.abs(yb - xb)) < 1e-5


def test_istft_length_pads_with_zeros():
    x = noise(1000, seed=13)
    spec = ts.audio.stft(T(x), n_fft=128, hop_length=32)
    y = N(ts.audio.istft(spec, n_fft=128, hop_length=32, length=1200))
    assert y.shape == (1200,)
    assert np.max(np.abs(y[:1000] - x)) < 1e-10
    assert np.max(np.abs(y[1000 + 64:])) == 0.0


def test_istft_nola_failure_raises():
    x = noise(1000, seed=14)
    spec = ts.audio.stft(T(x), n_fft=64, win_length=16, hop_length=32)  # hop > win_length: gaps
    with pytest.raises(ValueError, match=r"\[audio\.istft\].*NOLA.*hop_length=32"):
        ts.audio.istft(spec, n_fft=64, win_length=16, hop_length=32)
    with pytest.raises(ValueError, match=r"\[audio\.istft\].*bins"):
        ts.audio.istft(spec, n_fft=128, win_length=16, hop_length=32)


def test_spectrogram_power_and_magnitude():
    x = mixture(seconds=0.5)
    S = np.abs(librosa.stft(x, n_fft=400, hop_length=160, pad_mode="reflect"))
    assert rel_err(N(ts.audio.spectrogram(T(x), hop_length=160)), S ** 2) < 1e-10
    assert rel_err(N(ts.audio.spectrogram(T(x), hop_length=160, power=1.0)), S) < 1e-10
    assert rel_err(N(ts.audio.spectrogram(T(x, ts.float32), hop_length=160, power=1.5)), S ** 1.5) < 1e-4


def numpy_spectrogram(x, n_fft, hop, win_length=None, window="hann", center=True, pad_mode="reflect", power=2.0,
                      normalized=False):
    """|rfft(window * frame)| ** power [..., bins, frames], written out in NumPy float64."""
    win_length = win_length or n_fft
    w = scipy_signal.get_window(window, win_length, fftbins=True)
    left = (n_fft - win_length) // 2
    w = np.pad(w, (left, n_fft - win_length - left))
    if center:
        mode = {"replicate": "edge"}.get(pad_mode, pad_mode)
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode=mode)
    fr = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    S = np.abs(np.fft.rfft(fr * w, axis=-1)) ** power
    if normalized:
        S = S / np.sum(w ** 2) ** (power / 2)
    return np.swapaxes(S, -1, -2)


SPEC_CASES = [
    # n_fft, hop, win_length, window, center, pad_mode, power, normalized
    (400, 160, None, "hann", True, "reflect", 2.0, False),
    (400, 160, None, "hann", True, "constant", 1.0, False),
    (400, 100, None, "hamming", True, "replicate", 2.0, False),
    (512, 128, 300, "hann", True, "reflect", 1.5, True),
    (255, 64, 200, "blackman", True, "constant", 2.0, True),
    (64, 100, None, "hann", True, "reflect", 2.0, False),  # hop > n_fft
    (256, 80, None, "hann", False, "reflect", 1.0, True),
    (7, 3, None, "hann", True, "replicate", 2.0, False),  # tiny, odd
    (2048, 512, None, "hann", True, "constant", 2.0, False),
]


@pytest.mark.parametrize("n_fft,hop,win,window,center,pad_mode,power,normalized", SPEC_CASES)
def test_spectrogram_all_paths_match_numpy(n_fft, hop, win, window, center, pad_mode, power, normalized):
    """Every padding mode and option, with and without a gradient (a fused kernel serves the no-grad case)."""
    x = np.stack([mixture(seconds=0.3), noise(4800, seed=8)]).reshape(1, 2, -1)
    want = numpy_spectrogram(x, n_fft, hop, win, window, center, pad_mode, power, normalized)
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=win, center=center, pad_mode=pad_mode, normalized=normalized)
    for dtype, tol in [(ts.float64, 1e-10), (ts.float32, 1e-4)]:
        w = ts.audio.window(window, win or n_fft, dtype=dtype)
        fused = ts.audio.spectrogram(T(x, dtype), window=w, power=power, **kw)
        assert fused.dtype == dtype and rel_err(N(fused), want) < tol, dtype
        xg = T(x, dtype).requires_grad_()
        graph = ts.audio.spectrogram(xg, window=w, power=power, **kw)
        assert rel_err(N(graph.detach()), want) < tol, dtype
        # the mel path takes the same kernels
        # (torchaudio's frequency grid, linspace(0, sr / 2, bins), which differs from librosa's for odd n_fft)
        fb = N(ts.audio.mel_filterbank(n_fft // 2 + 1, 0.0, SR / 2, 20, SR, dtype=ts.float64))
        mel = ts.audio.mel_spectrogram(T(x, dtype), sample_rate=SR, window=w, power=power, n_mels=20, **kw)
        assert rel_err(N(mel), np.einsum("fm,...ft->...mt", fb, want)) < tol * 5, dtype
    # a strided (non-contiguous) signal
    xs = T(np.ascontiguousarray(np.swapaxes(x, -1, -2)), ts.float64).transpose(-1, -2)
    got = ts.audio.spectrogram(xs, window=ts.audio.window(window, win or n_fft, dtype=ts.float64), power=power, **kw)
    assert rel_err(N(got), want) < 1e-10


# ---------------------------------------------------------------------------------------------------------------
# mel, dB, MFCC
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", [(16000, 400, 128, 0.0, None), (16000, 512, 40, 20.0, 7600.0),
                                                     (22050, 2048, 128, 0.0, None), (44100, 1024, 64, 300.0, 18000.0),
                                                     (8000, 256, 23, 0.0, 3800.0)])
@pytest.mark.parametrize("scale", ["htk", "slaney"])
@pytest.mark.parametrize("norm", [None, "slaney"])
def test_mel_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax, scale, norm):
    got = N(ts.audio.mel_filterbank(n_fft // 2 + 1, fmin, fmax or sr / 2, n_mels, sr, norm=norm, mel_scale=scale,
                                    dtype=ts.float64))
    assert got.shape == (n_fft // 2 + 1, n_mels)  # ts: [n_freqs, n_mels]; librosa: [n_mels, n_freqs]
    want = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=scale == "htk", norm=norm,
                               dtype=np.float64)
    assert rel_err(got.T, want) < 1e-10
    f32 = ts.audio.mel_filterbank(n_fft // 2 + 1, fmin, fmax or sr / 2, n_mels, sr, norm=norm, mel_scale=scale)
    assert f32.dtype == ts.float32 and rel_err(N(f32).T, want) < 1e-6


@pytest.mark.parametrize("scale", ["htk", "slaney"])
def test_hz_mel_conversions_match_librosa(scale):
    for hz in [0.0, 60.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0]:
        m = ts.audio.hz_to_mel(hz, scale)
        assert m == pytest.approx(float(librosa.hz_to_mel(hz, htk=scale == "htk")), rel=1e-12, abs=1e-12)
        assert ts.audio.mel_to_hz(m, scale) == pytest.approx(hz, rel=1e-12, abs=1e-9)
        assert ts.audio.mel_to_hz(m, scale) == pytest.approx(float(librosa.mel_to_hz(m, htk=scale == "htk")),
                                                             rel=1e-12, abs=1e-9)


def torchaudio_mel(x, sr, **kw):
    """librosa called with torchaudio.transforms.MelSpectrogram's defaults: torchaudio's pipeline."""
    args = dict(n_fft=400, hop_length=200, pad_mode="reflect", htk=True, norm=None, n_mels=128)
    args.update(kw)
    return librosa.feature.melspectrogram(y=x, sr=sr, **args)


def torchaudio_mfcc(x, sr, n_mfcc=40, **kw):
    """torchaudio.transforms.MFCC's defaults: dB mel (top_db 80), DCT-II ortho, 40 coefficients."""
    return librosa.feature.mfcc(S=librosa.power_to_db(torchaudio_mel(x, sr, **kw), top_db=80), n_mfcc=n_mfcc,
                                norm="ortho")


@pytest.mark.parametrize("sr", [16000, 22050])
def test_mel_spectrogram_presets(sr):
    x = mixture(sr, 1.0)
    got = ts.audio.mel_spectrogram(T(x, ts.float32), sample_rate=sr, preset="librosa")
    assert got.dtype == ts.float32
    assert rel_err(N(got), librosa.feature.melspectrogram(y=x, sr=sr)) < 5e-4
    got = ts.audio.mel_spectrogram(T(x, ts.float32), sample_rate=sr, preset="torchaudio")
    assert rel_err(N(got), torchaudio_mel(x, sr)) < 5e-4
    # the default preset is torchaudio's
    assert rel_err(N(ts.audio.mel_spectrogram(T(x, ts.float32), sample_rate=sr)), torchaudio_mel(x, sr)) < 5e-4
    # float64: librosa.feature.melspectrogram builds its mel filters in float32 (dtype=np.float32)
    assert rel_err(N(ts.audio.mel_spectrogram(T(x), sample_rate=sr, preset="librosa")),
                   librosa.feature.melspectrogram(y=x, sr=sr)) < 1e-6


def test_mel_spectrogram_overrides():
    x = mixture(SR, 0.5)
    got = ts.audio.mel_spectrogram(T(x), sample_rate=SR, preset="librosa", n_fft=512, hop_length=160, n_mels=40,
                                   f_min=20.0, f_max=7600.0, power=1.0, mel_scale="htk", pad_mode="reflect",
                                   win_length=400)
    want = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=512, hop_length=160, n_mels=40, fmin=20.0, fmax=7600.0,
                                          power=1.0, htk=True, pad_mode="reflect", win_length=400)
    assert rel_err(N(got), want) < 1e-6
    got = ts.audio.mel_spectrogram(T(x), sample_rate=SR, preset="torchaudio", center=False, n_mels=64,
                                   window=ts.audio.window("hamming", 400, dtype=ts.float64))
    assert rel_err(N(got), torchaudio_mel(x, SR, center=False, n_mels=64, window="hamming")) < 1e-6
    with pytest.raises(TypeError, match="n_melz"):
        ts.audio.mel_spectrogram(T(x), n_melz=3)


@pytest.mark.parametrize("norm", [None, "none"])
def test_mel_spectrogram_norm_none_overrides_the_librosa_preset(norm):
    # librosa's API (and mel_filterbank's here): norm=None means no normalisation, not "keep the preset's".
    x = mixture(SR, 0.5)
    got = ts.audio.mel_spectrogram(T(x), sample_rate=SR, preset="librosa", norm=norm)
    assert rel_err(N(got), librosa.feature.melspectrogram(y=x, sr=SR, norm=None)) < 1e-6


def test_mel_spectrogram_multichannel_is_per_channel():
    x = np.stack([mixture(SR, 0.5), 0.3 * chirp(SR, 0.5, f0=200, f1=6000)])
    for preset, ref in [("librosa", lambda y: librosa.feature.melspectrogram(y=y, sr=SR)),
                        ("torchaudio", lambda y: torchaudio_mel(y, SR))]:
        got = N(ts.audio.mel_spectrogram(T(x, ts.float32), sample_rate=SR, preset=preset))
        assert got.shape[0] == 2
        for c in range(2):
            assert rel_err(got[c], ref(x[c])) < 5e-4, (preset, c)


def test_power_to_db_and_amplitude_to_db():
    S = librosa.feature.melspectrogram(y=mixture(SR, 0.5), sr=SR)
    S[:, :3] = 0.0  # silent frames: the amin and top_db floors are active
    for top_db in [80.0, 40.0, None]:
        got = N(ts.audio.power_to_db(T(S), top_db=top_db))
        assert np.max(np.abs(got - librosa.power_to_db(S, top_db=top_db))) < 1e-9, top_db
    got = N(ts.audio.power_to_db(T(S), ref=3.0, amin=1e-8, top_db=60.0))
    assert np.max(np.abs(got - librosa.power_to_db(S, ref=3.0, amin=1e-8, top_db=60.0))) < 1e-9
    got32 = N(ts.audio.power_to_db(T(S, ts.float32)))
    assert np.max(np.abs(got32 - librosa.power_to_db(S))) < 1e-3  # dB, float32
    A = np.sqrt(S)
    for top_db in [80.0, None]:  # librosa's amplitude_to_db has amin 1e-5 and squares internally
        got = N(ts.audio.amplitude_to_db(T(A), amin=1e-5, top_db=top_db))
        assert np.max(np.abs(got - librosa.amplitude_to_db(A, top_db=top_db))) < 1e-9
    got = N(ts.audio.amplitude_to_db(T(A), amin=1e-5, ref=0.5, top_db=50.0))
    assert np.max(np.abs(got - librosa.amplitude_to_db(A, ref=0.5, top_db=50.0))) < 1e-9


def test_top_db_floors_each_spectrogram_over_the_last_three_dims():
    rng = np.random.default_rng(3)
    S = rng.random((3, 2, 8, 10)) ** 8 * np.array([1.0, 1e-3, 1e-6])[:, None, None, None]
    got = N(ts.audio.power_to_db(T(S), top_db=30.0))
    for b in range(3):  # each [2, 8, 10] item is floored at its own max - 30 dB (torchaudio's semantics)
        assert np.max(np.abs(got[b] - librosa.power_to_db(S[b], top_db=30.0))) < 1e-9
    # 2-d and 3-d inputs: the whole tensor
    assert np.max(np.abs(N(ts.audio.power_to_db(T(S[0, 0]), top_db=30.0)) - librosa.power_to_db(S[0, 0],
                                                                                              top_db=30.0))) < 1e-9


@pytest.mark.parametrize("sr", [16000, 22050])
def test_mfcc_presets(sr):
    x = mixture(sr, 1.0)
    got = ts.audio.mfcc(T(x, ts.float32), sample_rate=sr, preset="librosa")
    want = librosa.feature.mfcc(y=x, sr=sr)
    assert got.dtype == ts.float32 and N(got).shape == want.shape == (20, want.shape[1])
    assert rel_err(N(got), want) < 5e-4
    got = ts.audio.mfcc(T(x, ts.float32), sample_rate=sr, preset="torchaudio")
    want = torchaudio_mfcc(x, sr)
    assert N(got).shape == want.shape and want.shape[0] == 40
    assert rel_err(N(got), want) < 5e-4
    assert rel_err(N(ts.audio.mfcc(T(x, ts.float32), sample_rate=sr)), want) < 5e-4  # default preset
    assert rel_err(N(ts.audio.mfcc(T(x), sample_rate=sr, preset="librosa")), librosa.feature.mfcc(y=x, sr=sr)) < 1e-6


def test_mfcc_options():
    x = mixture(SR, 0.5)
    got = N(ts.audio.mfcc(T(x), sample_rate=SR, preset="librosa", n_mfcc=13, n_mels=40, hop_length=160, n_fft=400))
    want = librosa.feature.mfcc(y=x, sr=SR, n_mfcc=13, n_mels=40, hop_length=160, n_fft=400)
    assert rel_err(got, want) < 1e-6
    mel = torchaudio_mel(x, SR)
    got = N(ts.audio.mfcc(T(x), sample_rate=SR, top_db=None))
    assert rel_err(got, librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=40, norm="ortho")) < 1e-6
    got = N(ts.audio.mfcc(T(x), sample_rate=SR, log_mels=True))  # torchaudio log_mels: log(mel + 1e-6)
    assert rel_err(got, librosa.feature.mfcc(S=np.log(mel + 1e-6), n_mfcc=40, norm="ortho")) < 1e-6
    got = N(ts.audio.mfcc(T(x), sample_rate=SR, dct_norm=None))  # unnormalised DCT-II: scipy norm=None
    assert rel_err(got, librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=80), n_mfcc=40, norm=None)) < 1e-6


def test_dct_matrix_matches_scipy():
    from scipy.fft import dct
    eye = np.eye(32)
    for norm in ["ortho", None]:
        got = N(ts.audio.dct_matrix(13, 32, norm=norm, dtype=ts.float64))
        assert got.shape == (32, 13)
        assert np.allclose(got, dct(eye, type=2, norm=norm, axis=1)[:, :13], rtol=0, atol=1e-12)


def test_mfcc_multichannel():
    x = np.stack([mixture(SR, 0.5), 0.3 * chirp(SR, 0.5, f0=200, f1=6000)])
    got = N(ts.audio.mfcc(T(x, ts.float32), sample_rate=SR, preset="librosa"))
    # librosa's multichannel mfcc: the dB floor is taken over both channels, as ts does over the last 3 dims
    assert rel_err(got, librosa.feature.mfcc(y=x, sr=SR)) < 5e-4
    got = N(ts.audio.mfcc(T(x, ts.float32), sample_rate=SR, preset="torchaudio", top_db=None))
    for c in range(2):
        mel = torchaudio_mel(x[c], SR)
        assert rel_err(got[c], librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=40,
                                                     norm="ortho")) < 5e-4


# ---------------------------------------------------------------------------------------------------------------
# differentiability
# ---------------------------------------------------------------------------------------------------------------

def small_signal(n=48, seed=21, shape=()):
    return T(noise(n, seed=seed, shape=shape, amp=1.0)).requires_grad_()


@pytest.mark.parametrize("center,pad_mode", [(True, "reflect"), (True, "constant"), (False, "reflect")])
def test_stft_gradcheck(center, pad_mode):
    x = small_signal()
    w = ts.audio.window("hann", 12, dtype=ts.float64)
    assert gradcheck(lambda v: ts.audio.stft(v, n_fft=16, hop_length=8, win_length=12, window=w, center=center,
                                             pad_mode=pad_mode, return_complex=False), [x])


def test_stft_complex_gradient_is_the_pairs_gradient():
    x = small_signal()
    ts.abs(ts.audio.stft(x, n_fft=16)).sum().backward()
    y = small_signal()
    ts.linalg.vector_norm(ts.audio.stft(y, n_fft=16, return_complex=False), dim=-1).sum().backward()
    np.testing.assert_allclose(N(x.grad), N(y.grad), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("power", [2.0, 1.0])
def test_spectrogram_gradcheck(power):
    x = small_signal(shape=(2,))
    assert gradcheck(lambda v: ts.audio.spectrogram(v, n_fft=16, hop_length=8, power=power), [x])


def test_istft_gradcheck():
    spec = ts.audio.stft(T(noise(48, seed=4)), n_fft=16, hop_length=4, return_complex=False).contiguous()
    spec.requires_grad_()
    assert gradcheck(lambda s: ts.audio.istft(s, n_fft=16, hop_length=4, length=48), [spec])


@pytest.mark.parametrize("preset", ["torchaudio", "librosa"])
def test_mel_spectrogram_gradcheck(preset):
    x = small_signal(64)
    assert gradcheck(lambda v: ts.audio.mel_spectrogram(v, sample_rate=8000, preset=preset, n_fft=32, hop_length=16,
                                                        n_mels=6), [x])


@pytest.mark.parametrize("log_mels", [False, True])
def test_mfcc_gradcheck(log_mels):
    x = small_signal(64)
    assert gradcheck(lambda v: ts.audio.mfcc(v, sample_rate=8000, n_fft=32, hop_length=16, n_mels=8, n_mfcc=5,
                                             log_mels=log_mels), [x])


def test_power_to_db_gradient_through_the_top_db_floor():
    # Floored elements equal max - top_db, so their gradient flows to the maximum (as in torchaudio,
    # whose amplitude_to_DB does not detach the max).
    S = T(np.array([[1.0, 2.0, 1e-6], [3.0, 1e-7, 0.5]])).requires_grad_()
    assert gradcheck(lambda s: ts.audio.power_to_db(s, top_db=30.0), [S])


def test_mel_spectrogram_backward_float32():
    x = T(mixture(SR, 0.5), ts.float32).requires_grad_()
    mel = ts.audio.mel_spectrogram(x, sample_rate=SR, n_mels=80, hop_length=160)
    loss = ts.audio.power_to_db(mel).mean()
    loss.backward()
    g = N(x.grad)
    assert g.dtype == np.float32 and g.shape == x.shape
    assert np.all(np.isfinite(g)) and np.any(g != 0)


# ---------------------------------------------------------------------------------------------------------------
# resampling
# ---------------------------------------------------------------------------------------------------------------

KAISER_BETA = 14.769656459379492


def reference_resample(x, orig_freq, new_freq, lowpass_filter_width=6, rolloff=0.99, method="sinc_interp_hann",
                       beta=KAISER_BETA, exact_length=False):
    """torchaudio.functional.resample, transcribed to NumPy float64."""
    x = np.asarray(x, dtype=np.float64)
    if orig_freq == new_freq:
        return x
    g = math.gcd(orig_freq, new_freq)
    orig, new = orig_freq // g, new_freq // g
    base_freq = min(orig, new) * rolloff
    lpw = lowpass_filter_width
    width = math.ceil(lpw * orig / base_freq)
    idx = np.arange(-width, width + orig, dtype=np.float64) / orig
    t = (np.arange(0, -new, -1, dtype=np.float64) / new)[:, None] + idx[None]
    t *= base_freq
    t = np.clip(t, -lpw, lpw)
    if method == "sinc_interp_hann":
        window = np.cos(t * np.pi / lpw / 2) ** 2
    else:
        window = np.i0(beta * np.sqrt(1 - (t / lpw) ** 2)) / np.i0(beta)
    t *= np.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    kernel = kernel * window * base_freq / orig  # [new, taps]
    lead, n = x.shape[:-1], x.shape[-1]
    rows = x.reshape(-1, n)
    padded = np.pad(rows, ((0, 0), (width, width + orig)))
    taps = kernel.shape[1]
    frames = np.lib.stride_tricks.sliding_window_view(padded, taps, axis=-1)[:, ::orig]  # [rows, blocks, taps]
    y = (frames @ kernel.T).reshape(rows.shape[0], -1)  # phases interleaved
    q = new * n / orig
    target = math.ceil(q) if exact_length else math.ceil(float(np.float32(q)))  # torch.as_tensor: float32
    return y[:, :target].reshape(lead + (-1,))


RESAMPLE_RATES = [(44100, 16000), (16000, 44100), (22050, 16000), (48000, 8000), (8000, 48000), (16000, 16000)]


@pytest.mark.parametrize("orig,new", RESAMPLE_RATES)
@pytest.mark.parametrize("method", ["sinc_interp_hann", "sinc_interp_kaiser"])
def test_resample_matches_torchaudio_reference(orig, new, method):
    x = np.stack([mixture(orig, 0.3), noise(int(orig * 0.3), seed=orig)])
    kw = dict(method=method) if method == "sinc_interp_hann" else dict(method=method, beta=8.0,
                                                                        lowpass_filter_width=12, rolloff=0.9)
    want = reference_resample(x, orig, new, **kw)
    got = ts.audio.resample(T(x), orig, new, **kw)
    assert got.dtype == ts.float64 and tuple(got.shape) == want.shape
    assert np.max(np.abs(N(got) - want)) < 1e-10
    got32 = ts.audio.resample(T(x, ts.float32), orig, new, **kw)
    assert got32.dtype == ts.float32 and np.max(np.abs(N(got32) - want)) < 1e-5


def test_resample_default_kaiser_beta_and_quality_presets():
    x = mixture(44100, 0.2)
    want = reference_resample(x, 44100, 16000, method="sinc_interp_kaiser")  # torchaudio's default beta
    assert np.max(np.abs(N(ts.audio.resample(T(x), 44100, 16000, method="sinc_interp_kaiser")) - want)) < 1e-10
    want = reference_resample(x, 44100, 16000, lowpass_filter_width=64, rolloff=0.9475937167399596,
                              method="sinc_interp_kaiser", beta=KAISER_BETA)
    assert np.max(np.abs(N(ts.audio.resample(T(x), 44100, 16000, quality="kaiser_best")) - want)) < 1e-10
    want = reference_resample(x, 44100, 16000, lowpass_filter_width=16, rolloff=0.85, method="sinc_interp_kaiser",
                              beta=8.555504641634386)
    assert np.max(np.abs(N(ts.audio.resample(T(x), 44100, 16000, quality="kaiser_fast")) - want)) < 1e-10
    # keyword arguments override the preset
    want = reference_resample(x, 44100, 16000, lowpass_filter_width=32, rolloff=0.9475937167399596,
                              method="sinc_interp_kaiser", beta=KAISER_BETA)
    got = ts.audio.resample(T(x), 44100, 16000, quality="kaiser_best", lowpass_filter_width=32)
    assert np.max(np.abs(N(got) - want)) < 1e-10


def test_resample_length_quirk():
    x = np.zeros(180697, dtype=np.float32)
    assert ts.audio.resample(T(x), 44100, 16000).shape[-1] == 65559  # torchaudio: ceil of a float32 quotient
    assert ts.audio.resample(T(x), 44100, 16000, exact_length=True).shape[-1] == 65560  # ceil(16000 * n / 44100)
    assert reference_resample(x[:10], 44100, 16000).shape[-1] == 4
    for n in [1, 2, 441, 1000, 44100, 100003]:
        for orig, new in RESAMPLE_RATES:
            got = ts.audio.resample(T(np.zeros(n, np.float32)), orig, new, exact_length=True).shape[-1]
            assert got == math.ceil(new * n / orig), (n, orig, new)


def test_resample_batch_shape_and_identity():
    x = noise(4410, seed=1, shape=(2, 3))
    y = ts.audio.resample(T(x), 44100, 16000)
    assert tuple(y.shape) == (2, 3, 1600)
    assert np.max(np.abs(N(y) - reference_resample(x, 44100, 16000))) < 1e-10
    assert np.array_equal(N(ts.audio.resample(T(x), 16000, 16000)), x)


def test_resample_gradcheck():
    x = T(noise(40, seed=6, amp=1.0)).requires_grad_()
    assert gradcheck(lambda v: ts.audio.resample(v, 3, 2, lowpass_filter_width=3), [x])


def test_results_do_not_depend_on_the_thread_count():
    x = noise(4000, seed=10, shape=(64,)).astype(np.float32)  # big enough for the parallel paths
    out = {}
    for n in (1, 2):
        ts.set_num_threads(n)
        out[n] = [N(ts.fft.rfft(T(x))), N(ts.audio.spectrogram(T(x), hop_length=160)),
                  N(ts.audio.mel_spectrogram(T(x))), N(ts.audio.resample(T(x), 44100, 16000))]
    for a, b in zip(out[1], out[2]):
        assert np.array_equal(a, b)


def _fit_tone(y, freq, sr):
    """Amplitude and phase of the sinusoid at freq in y (least squares)."""
    t = np.arange(len(y)) / sr
    A = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], 1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return math.hypot(a, b)


def _spectral_checks(resample, orig=44100, new=16000):
    """SNR of a 1 kHz tone, passband gain up to 0.9 x Nyquist, stopband rejection: (snr, gains, rejections)."""
    seconds, edge = 1.0, 0.1
    t_in = np.arange(int(orig * seconds)) / orig
    t_out = np.arange(int(new * seconds)) / new
    lo, hi = int(edge * new), int((seconds - edge) * new)
    y = resample(0.5 * np.sin(2 * np.pi * 1000 * t_in))[: len(t_out)]
    ideal = 0.5 * np.sin(2 * np.pi * 1000 * t_out)
    snr = 10 * np.log10(np.sum(ideal[lo:hi] ** 2) / np.sum((y[lo:hi] - ideal[lo:hi]) ** 2))
    gains = {}
    for f in [100, 1000, 3000, 5000, 6500, 0.9 * new / 2]:
        y = resample(0.5 * np.sin(2 * np.pi * f * t_in))[lo:hi]
        gains[f] = 20 * np.log10(_fit_tone(y, f, new) / 0.5)
    rejections = {}
    for f in [9000, 12000, 20000]:  # above the new Nyquist (8 kHz)
        y = resample(0.5 * np.sin(2 * np.pi * f * t_in))[lo:hi]
        rejections[f] = 20 * np.log10(np.sqrt(2) * np.std(y) / 0.5)
    return snr, gains, rejections


def test_resample_kaiser_best_spectral_quality():
    soxr = pytest.importorskip("soxr", reason="soxr is the high-quality resampling reference")
    for name, fn in [("soxr VHQ", lambda x: soxr.resample(x, 44100, 16000, "VHQ")),
                     ("kaiser_best", lambda x: N(ts.audio.resample(T(x), 44100, 16000, quality="kaiser_best")))]:
        snr, gains, rejections = _spectral_checks(fn)
        assert snr > 60, f"{name}: 1 kHz tone SNR {snr:.1f} dB"
        assert all(abs(g) < 0.1 for g in gains.values()), f"{name}: passband gains (dB) {gains}"
        assert all(r < -60 for r in rejections.values()), f"{name}: stopband levels (dB) {rejections}"


def test_resample_default_quality_is_reasonable():
    snr, gains, _ = _spectral_checks(lambda x: N(ts.audio.resample(T(x), 44100, 16000)))
    assert snr > 40 and all(abs(g) < 0.5 for f, g in gains.items() if f <= 5000), (snr, gains)


# ---------------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------------

needs_sndfile = pytest.mark.skipif(not ts.audio.available,
                                   reason="tessel was built without libsndfile (TESSEL_WITH_SNDFILE=OFF)")


@pytest.fixture(scope="module")
def sf():
    if not ts.audio.available:
        pytest.skip("tessel was built without libsndfile (TESSEL_WITH_SNDFILE=OFF)")
    return pytest.importorskip("soundfile", reason="soundfile is the reference for audio files")


def stereo(sr=SR, seconds=0.5):
    return np.stack([mixture(sr, seconds), 0.4 * chirp(sr, seconds, f0=100, f1=5000)]).astype(np.float32)


def snr_db(got, want):
    return 10 * np.log10(np.sum(want ** 2) / max(np.sum((got - want) ** 2), 1e-30))


@needs_sndfile
@pytest.mark.parametrize("ext,subtype,bits", [("wav", "PCM_16", 16), ("wav", "PCM_24", 24), ("wav", "PCM_32", 32),
                                              ("wav", "FLOAT", None), ("flac", "PCM_16", 16), ("flac", "PCM_24", 24),
                                              ("aiff", "PCM_16", 16), ("w64", "PCM_24", 24)])
def test_save_load_round_trip_lossless(sf, tmp_path, ext, subtype, bits):
    x = stereo()
    p = tmp_path / f"a.{ext}"
    ts.audio.save(p, T(x), SR, subtype=subtype)
    w, sr = ts.audio.load(p)
    assert sr == SR and w.dtype == ts.float32 and tuple(w.shape) == x.shape
    tol = 1e-7 if bits is None else 2.0 ** -(bits - 1) * 1.01
    assert np.max(np.abs(N(w) - x)) <= tol
    ref, ref_sr = sf.read(str(p), dtype="float32", always_2d=True)
    assert ref_sr == SR and np.array_equal(N(w), ref.T)
    i, r = ts.audio.info(p), sf.info(str(p))
    assert (i.sample_rate, i.num_frames, i.num_channels) == (r.samplerate, r.frames, r.channels) == (SR, x.shape[1], 2)
    assert (i.format, i.subtype) == (r.format, r.subtype) == (ext.upper().replace("AIFF", "AIFF"), subtype)
    assert i.duration == pytest.approx(x.shape[1] / SR)


@needs_sndfile
@pytest.mark.parametrize("subtype,bits,np_dtype", [("PCM_16", 16, np.int16), ("PCM_32", 32, np.int32)])
def test_load_is_int_over_two_to_bits_minus_one(sf, tmp_path, subtype, bits, np_dtype):
    info = np.iinfo(np_dtype)
    ints = np.array([[info.min, -1, 0, 1, info.max, 12345]], dtype=np_dtype)
    p = tmp_path / "i.wav"
    sf.write(str(p), ints.T, SR, subtype=subtype)
    w, _ = ts.audio.load(p)
    assert np.array_equal(N(w), (ints.astype(np.float64) / 2.0 ** (bits - 1)).astype(np.float32))
    raw, _ = ts.audio.load(p, normalize=False)
    assert raw.dtype == {np.int16: ts.int16, np.int32: ts.int32}[np_dtype]
    assert np.array_equal(N(raw), ints)


@needs_sndfile
def test_load_24_bit_unnormalized_is_int32(sf, tmp_path):
    x = stereo()
    p = tmp_path / "a24.wav"
    sf.write(str(p), x.T, SR, subtype="PCM_24")
    raw, _ = ts.audio.load(p, normalize=False)
    assert raw.dtype == ts.int32
    assert np.array_equal(N(raw), sf.read(str(p), dtype="int32", always_2d=True)[0].T)
    w, _ = ts.audio.load(p)
    assert np.array_equal(N(w), (N(raw) / 2.0 ** 31).astype(np.float32))  # the 24-bit values, left-aligned


@needs_sndfile
def test_load_8_bit_unsigned(sf, tmp_path):
    u8 = np.array([0, 1, 64, 127, 128, 129, 200, 255], dtype=np.uint8)
    p = tmp_path / "u8.wav"
    with wave.open(str(p), "wb") as f:  # 8-bit WAV is unsigned
        f.setnchannels(1)
        f.setsampwidth(1)
        f.setframerate(8000)
        f.writeframes(u8.tobytes())
    w, sr = ts.audio.load(p)
    assert sr == 8000 and ts.audio.info(p).subtype == "PCM_U8"
    assert np.array_equal(N(w)[0], ((u8.astype(np.float64) - 128) / 128).astype(np.float32))
    raw, _ = ts.audio.load(p, normalize=False)  # 8-bit PCM comes as int16 (libsndfile's short scale)
    assert raw.dtype == ts.int16
    assert np.array_equal(N(raw)[0], sf.read(str(p), dtype="int16")[0])


@needs_sndfile
def test_save_integer_waveforms_are_stored_as_is(sf, tmp_path):
    ints = (stereo() * 30000).astype(np.int16)
    p = tmp_path / "int.wav"
    ts.audio.save(p, T(ints), SR)
    assert np.array_equal(sf.read(str(p), dtype="int16", always_2d=True)[0].T, ints)
    raw, _ = ts.audio.load(p, normalize=False)
    assert np.array_equal(N(raw), ints)


@needs_sndfile
def test_save_clips_floats_for_integer_subtypes(sf, tmp_path):
    x = np.array([[-2.0, -1.0, 0.0, 1.0, 3.0]], dtype=np.float32)
    p = tmp_path / "clip.wav"
    ts.audio.save(p, T(x), SR)
    raw = sf.read(str(p), dtype="int16")[0]
    assert raw[0] == -32768 and raw[-1] == 32767 and raw[2] == 0


@needs_sndfile
def test_load_options(sf, tmp_path):
    x = stereo()
    p = tmp_path / "opts.flac"
    ts.audio.save(p, T(x), SR, subtype="PCM_24")
    full = N(ts.audio.load(p)[0])
    w = N(ts.audio.load(p, frame_offset=1000, num_frames=500)[0])
    assert np.array_equal(w, full[:, 1000:1500])
    assert np.array_equal(N(ts.audio.load(p, frame_offset=7000)[0]), full[:, 7000:])
    assert N(ts.audio.load(p, frame_offset=x.shape[1] + 5)[0]).shape == (2, 0)
    assert np.array_equal(N(ts.audio.load(p, num_frames=10 ** 9)[0]), full)
    m = N(ts.audio.load(p, mono=True)[0])
    assert m.shape == (1, x.shape[1]) and np.max(np.abs(m - full.mean(0, keepdims=True))) < 1e-7
    t = N(ts.audio.load(p, channels_first=False)[0])
    assert t.shape == (x.shape[1], 2) and np.array_equal(t, full.T)
    mono_1ch, _ = ts.audio.load(p, mono=True, num_frames=3, channels_first=False)
    assert tuple(mono_1ch.shape) == (3, 1)


@needs_sndfile
def test_save_channels_last_and_1d(sf, tmp_path):
    x = stereo()
    ts.audio.save(tmp_path / "cl.wav", T(np.ascontiguousarray(x.T)), SR, channels_first=False, subtype="FLOAT")
    assert np.array_equal(sf.read(str(tmp_path / "cl.wav"), dtype="float32", always_2d=True)[0].T, x)
    ts.audio.save(tmp_path / "one.wav", T(x[0]), SR, subtype="FLOAT")
    w, _ = ts.audio.load(tmp_path / "one.wav")
    assert tuple(w.shape) == (1, x.shape[1]) and np.array_equal(N(w)[0], x[0])
    ts.audio.save(tmp_path / "noext", T(x), SR, format="wav")
    assert ts.audio.info(tmp_path / "noext").format == "WAV"


@needs_sndfile
@pytest.mark.parametrize("fmt,subtype", [("wav", None), ("wav", "FLOAT"), ("flac", None), ("flac", "PCM_24"),
                                         ("ogg", None)])
def test_encode_and_load_bytes(sf, tmp_path, fmt, subtype):
    x = stereo()
    b = ts.audio.encode(T(x), SR, format=fmt, subtype=subtype)
    assert isinstance(b, bytes) and len(b) > 100
    ref, ref_sr = sf.read(io.BytesIO(b), dtype="float32", always_2d=True)
    w, sr = ts.audio.load(b)
    assert sr == ref_sr == SR
    if fmt != "ogg":
        assert np.array_equal(N(w), ref.T)
    else:
        assert snr_db(N(w)[:, :ref.shape[0]], ref.T[:, :N(w).shape[1]]) > 60  # two decodes of one stream
    i = ts.audio.info(b)
    assert (i.format, i.num_channels, i.sample_rate) == (fmt.upper(), 2, SR)
    # bytes and file give the same decode
    p = tmp_path / f"e.{fmt}"
    p.write_bytes(b)
    assert np.array_equal(N(ts.audio.load(p)[0]), N(ts.audio.load(p.read_bytes())[0]))
    assert np.array_equal(N(ts.audio.load(bytearray(b))[0]), N(w))
    assert np.array_equal(N(ts.audio.load(memoryview(b), frame_offset=100, num_frames=50)[0]), N(w)[:, 100:150])


@needs_sndfile
def test_ogg_vorbis_round_trip(sf, tmp_path):
    x = stereo(seconds=1.0)
    p = tmp_path / "a.ogg"
    ts.audio.save(p, T(x), SR)
    i = ts.audio.info(p)
    assert (i.format, i.subtype, i.num_channels, i.sample_rate) == ("OGG", "VORBIS", 2, SR)
    w, sr = ts.audio.load(p)
    w = N(w)
    assert sr == SR and w.shape[0] == 2 and abs(w.shape[1] - x.shape[1]) <= 2048
    n = min(w.shape[1], x.shape[1])
    assert snr_db(w[:, :n], x[:, :n]) > 15  # lossy
    ref = sf.read(str(p), dtype="float32", always_2d=True)[0].T
    m = min(n, ref.shape[1])
    assert snr_db(w[:, :m], ref[:, :m]) > 60


@needs_sndfile
def test_mp3_round_trip(sf, tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support")
    x = np.stack([tone(440, SR, 1.0, 0.5), tone(1000, SR, 1.0, 0.3)]).astype(np.float32)
    p = tmp_path / "a.mp3"
    try:
        ts.audio.save(p, T(x), SR)
    except ValueError as e:
        pytest.skip(f"tessel's libsndfile cannot write MP3: {e}")
    i = ts.audio.info(p)
    assert (i.format, i.subtype, i.num_channels, i.sample_rate) == ("MP3", "MPEG_LAYER_III", 2, SR)
    w, sr = ts.audio.load(p)
    w = N(w)
    assert sr == SR and w.shape[0] == 2 and abs(w.shape[1] - x.shape[1]) < 0.2 * SR  # encoder delay/padding
    for c, (f, amp) in enumerate([(440, 0.5), (1000, 0.3)]):  # lossy, maybe shifted: compare spectra
        spec = np.abs(np.fft.rfft(w[c]))
        assert abs(np.argmax(spec) * SR / len(w[c]) - f) < 3
        rms = np.sqrt(np.mean(w[c, SR // 10: -SR // 10] ** 2))
        assert abs(20 * np.log10(rms / (amp / np.sqrt(2)))) < 1.0


@needs_sndfile
def test_load_missing_file(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(FileNotFoundError, match=r"\[audio\.load\] cannot open '.*missing\.wav'"):
        ts.audio.load(missing)
    with pytest.raises(FileNotFoundError, match=r"\[audio\.info\] cannot open '.*missing\.wav'"):
        ts.audio.info(missing)
    with pytest.raises(FileNotFoundError):
        ts.audio.save(tmp_path / "no" / "such" / "dir.wav", T(np.zeros((1, 10), np.float32)), SR)


def _wav_bytes(x=None, subtype="PCM_16"):
    return ts.audio.encode(T(stereo(seconds=0.2) if x is None else x), SR, format="wav", subtype=subtype)


@needs_sndfile
def test_load_bad_bytes_raise_value_error():
    with pytest.raises(ValueError, match=r"\[audio\.load\].*empty bytes"):
        ts.audio.load(b"")
    rnd = np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ValueError, match=r"\[audio\.load\] cannot decode bytes"):
        ts.audio.load(rnd)
    with pytest.raises(ValueError, match=r"\[audio\.info\] cannot decode bytes"):
        ts.audio.info(rnd)


@needs_sndfile
def test_load_corrupt_wav_header(tmp_path):
    good = _wav_bytes()
    assert good[:4] == b"RIFF" and good[12:16] == b"fmt "
    for at, junk in [(0, b"RIFX"), (0, b"\0\0\0\0"), (12, b"xyz!"), (20, b"\xff\xff\xff\xff")]:
        bad = bytearray(good)
        bad[at:at + len(junk)] = junk
        p = tmp_path / f"corrupt{at}.wav"
        p.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match=rf"\[audio\.load\] cannot decode '.*corrupt{at}\.wav'"):
            ts.audio.load(p)
        with pytest.raises(ValueError, match=r"\[audio\.load\] cannot decode bytes"):
            ts.audio.load(bytes(bad))


@needs_sndfile
def test_load_truncated_flac(tmp_path):
    flac = ts.audio.encode(T(stereo(seconds=1.0)), SR, format="flac")
    head = tmp_path / "head.flac"
    head.write_bytes(flac[:30])  # inside the STREAMINFO header
    with pytest.raises(ValueError, match=r"\[audio\.load\] cannot decode '.*head\.flac'"):
        ts.audio.load(head)
    half = tmp_path / "half.flac"
    half.write_bytes(flac[: len(flac) // 2])  # the header promises more frames than the stream holds
    with pytest.raises(ValueError, match=r"\[audio\.load\].*'.*half\.flac'"):
        ts.audio.load(half)


@needs_sndfile
def test_load_truncated_ogg():
    ogg = ts.audio.encode(T(stereo(seconds=0.3)), SR, format="ogg")
    for cut in (len(ogg) - 1, len(ogg) - 200, len(ogg) // 2):  # the last Ogg page is cut short
        try:
            w, sr = ts.audio.load(ogg[:cut])
        except ValueError as e:
            assert "[audio.load]" in str(e) and "bytes" in str(e), str(e)
        else:
            assert sr == SR and w.shape[0] == 2 and w.shape[1] <= int(0.3 * SR)


@needs_sndfile
def test_save_errors(tmp_path):
    x = T(stereo(seconds=0.05))
    with pytest.raises(ValueError, match=r"\[audio\.save\].*extension"):
        ts.audio.save(tmp_path / "noext", x, SR)
    with pytest.raises(ValueError, match=r"\[audio\.save\] unknown format \"xyz\""):
        ts.audio.save(tmp_path / "a.xyz", x, SR)
    with pytest.raises(ValueError, match=r"\[audio\.save\] unknown subtype \"PCM_7\""):
        ts.audio.save(tmp_path / "a.wav", x, SR, subtype="PCM_7")
    with pytest.raises(ValueError, match=r"\[audio\.save\].*sample_rate.*0"):
        ts.audio.save(tmp_path / "a.wav", x, 0)
    with pytest.raises(ValueError, match=r"\[audio\.save\].*VORBIS"):
        ts.audio.save(tmp_path / "a.wav", x, SR, subtype="VORBIS")
    with pytest.raises(ValueError, match=r"\[audio\.save\].*shape"):
        ts.audio.save(tmp_path / "a.wav", T(np.zeros((1, 2, 3), np.float32)), SR)
    with pytest.raises(ValueError, match=r"\[audio\.load\].*frame_offset.*-1"):
        ts.audio.load(_wav_bytes(), frame_offset=-1)


@needs_sndfile
def test_hostile_files_never_crash_the_interpreter(tmp_path):
    """Truncations, bit flips and random bytes in a child process: every case loads or raises ValueError."""
    src = tmp_path / "src"
    src.mkdir()
    x = T(stereo(seconds=0.3))
    for fmt, sub in [("wav", "PCM_16"), ("wav", "FLOAT"), ("flac", "PCM_16"), ("ogg", None), ("aiff", "PCM_24")]:
        (src / f"{fmt}_{sub}").write_bytes(ts.audio.encode(x, SR, format=fmt, subtype=sub))
    code = textwrap.dedent(f"""
        import os, sys, numpy as np, tessel as ts
        rng = np.random.default_rng(0)
        cases = 0
        def attempt(b):
            global cases
            cases += 1
            for f in (ts.audio.info, ts.audio.load):
                try:
                    f(b)
                except ValueError as e:
                    assert "[audio." in str(e), str(e)
        for name in sorted(os.listdir({str(src)!r})):
            good = open(os.path.join({str(src)!r}, name), "rb").read()
            for cut in list(range(0, 200, 7)) + [len(good) // 3, len(good) // 2, len(good) - 1]:
                attempt(good[:cut])
            for _ in range(40):
                bad = bytearray(good)
                for i in rng.integers(0, min(len(bad), 400), 4):
                    bad[i] = int(rng.integers(0, 256))
                attempt(bytes(bad))
        for n in (1, 4, 12, 44, 100, 5000):
            attempt(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
        print("cases", cases)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, f"child exited with {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    assert "cases" in r.stdout


def test_available_flag():
    assert isinstance(ts.audio.available, bool)
    if not ts.audio.available:
        with pytest.raises(NotImplementedError, match=r"\[audio\.load\].*libsndfile"):
            ts.audio.load(b"RIFF")


# ---------------------------------------------------------------------------------------------------------------
# argument errors
# ---------------------------------------------------------------------------------------------------------------

ARG_ERRORS = [
    (lambda x: ts.audio.window("triangle-ish", 16), r"\[audio\.window\] unknown window \"triangle-ish\""),
    (lambda x: ts.audio.window("hann", -1), r"\[audio\.window\].*-1"),
    (lambda x: ts.audio.stft(x, n_fft=0), r"\[audio\.stft\] n_fft must be positive, got 0"),
    (lambda x: ts.audio.stft(x, n_fft=-4), r"\[audio\.stft\] n_fft must be positive, got -4"),
    (lambda x: ts.audio.stft(x, hop_length=0), r"\[audio\.stft\] hop_length must be positive, got 0"),
    (lambda x: ts.audio.stft(x, hop_length=-3), r"\[audio\.stft\] hop_length must be positive, got -3"),
    (lambda x: ts.audio.stft(x, n_fft=256, win_length=300), r"\[audio\.stft\] win_length.*256.*300"),
    (lambda x: ts.audio.stft(x, n_fft=2048, center=False), r"\[audio\.stft\].*1000 samples.*n_fft=2048"),
    (lambda x: ts.audio.stft(x, n_fft=4096), r"\[audio\.stft\] reflect padding of 2048.*1000"),
    (lambda x: ts.audio.stft(x, pad_mode="wrap"), r"\[audio\.stft\] pad_mode.*\"wrap\""),
    (lambda x: ts.audio.stft(x, window=ts.audio.window("hann", 300)), r"\[audio\.stft\] window.*400"),
    (lambda x: ts.audio.spectrogram(x, n_fft=-1), r"\[audio\.spectrogram\] n_fft.*-1"),
    (lambda x: ts.audio.spectrogram(x, power=0.0), r"\[audio\.spectrogram\] power.*0"),
    (lambda x: ts.audio.mel_spectrogram(x, hop_length=0), r"\[audio\.mel_spectrogram\] hop_length.*0"),
    (lambda x: ts.audio.mel_spectrogram(x, n_fft=200, win_length=400), r"\[audio\.mel_spectrogram\] win_length"),
    (lambda x: ts.audio.mel_spectrogram(x, n_fft=2048), r"\[audio\.mel_spectrogram\] reflect padding of 1024"),
    (lambda x: ts.audio.mel_spectrogram(x, f_min=9000.0, f_max=8000.0), r"\[audio\.mel_filterbank\].*9000"),
    (lambda x: ts.audio.mel_spectrogram(x, f_min=4000.0, f_max=4000.0), r"\[audio\.mel_filterbank\].*4000"),
    (lambda x: ts.audio.mel_spectrogram(x, mel_scale="bark"), r"\[audio\.\w+\].*\"bark\""),
    (lambda x: ts.audio.mel_spectrogram(x, norm="l2"), r"\[audio\.mel_filterbank\] norm.*\"l2\""),
    (lambda x: ts.audio.mel_spectrogram(x, preset="kaldi"), r"\[audio\.mel_spectrogram\] unknown preset 'kaldi'"),
    (lambda x: ts.audio.mfcc(x, preset="kaldi"), r"\[audio\.\w+\] unknown preset .kaldi."),
    (lambda x: ts.audio.mfcc(x, n_mfcc=200), r"\[audio\.mfcc\] n_mfcc=200 must not exceed n_mels=128"),
    (lambda x: ts.audio.mfcc(x, n_mfcc=30, n_mels=20), r"\[audio\.mfcc\] n_mfcc=30 .*n_mels=20"),
    (lambda x: ts.audio.mfcc(x, dct_norm="l1"), r"\[audio\.dct_matrix\] norm.*\"l1\""),
    (lambda x: ts.audio.mel_filterbank(201, 0.0, 8000.0, 0, 16000), r"\[audio\.mel_filterbank\].*0"),
    (lambda x: ts.audio.power_to_db(T(np.ones(3)), amin=0.0), r"\[audio\.amplitude_to_db\] amin.*0"),
    (lambda x: ts.audio.power_to_db(T(np.ones(3)), top_db=-1.0), r"\[audio\.amplitude_to_db\] top_db.*-1"),
    (lambda x: ts.audio.resample(x, 0, 16000), r"\[audio\.resample\].*orig_freq=0"),
    (lambda x: ts.audio.resample(x, 44100, -16000), r"\[audio\.resample\].*new_freq=-16000"),
    (lambda x: ts.audio.resample(x, 44100, 16000, quality="best"), r"\[audio\.resample\] unknown quality \"best\""),
    (lambda x: ts.audio.resample(x, 44100, 16000, method="linear"), r"\[audio\.resample\] method.*\"linear\""),
    (lambda x: ts.audio.resample(x, 44100, 16000, rolloff=1.5), r"\[audio\.resample\] rolloff.*1\.5"),
    (lambda x: ts.audio.resample(x, 44100, 16000, lowpass_filter_width=0),
     r"\[audio\.resample\] lowpass_filter_width.*0"),
    (lambda x: ts.audio.resample(ts.tensor(1.0), 44100, 16000), r"\[audio\.resample\].*0-d"),
    (lambda x: ts.audio.stft(ts.tensor(1.0)), r"\[audio\.stft\].*0-d"),
    (lambda x: ts.audio.istft(T(np.ones((5, 3))), n_fft=8), r"\[audio\.istft\].*shape"),
]


def _arg_error_id(i, case):
    import re
    m = re.search(r"audio\\\.(\w+)", case[1])
    return f"{i:02d}-{m.group(1) if m else 'op'}"


@pytest.mark.parametrize("case", ARG_ERRORS, ids=[_arg_error_id(i, c) for i, c in enumerate(ARG_ERRORS)])
def test_argument_errors_name_the_op_and_value(case):
    f, pattern = case
    with pytest.raises(ValueError, match=pattern):
        f(T(noise(1000, seed=2)))


def test_stft_of_complex_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"\[audio\.stft\].*real"):
        ts.audio.stft(T(np.ones(1000, dtype=np.complex128)))


# ---------------------------------------------------------------------------------------------------------------
# speech (espeak-ng)
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no speech input")
    p = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(p), "The quick brown fox jumps over the lazy dog."], check=True,
                   capture_output=True, timeout=60)
    return p


def test_speech_load_matches_soundfile(sf, speech_wav):
    w, sr = ts.audio.load(speech_wav)
    ref, ref_sr = sf.read(str(speech_wav), dtype="float32", always_2d=True)
    assert sr == ref_sr == 22050 and w.shape[0] == 1 and w.shape[1] > sr  # over a second of mono speech
    assert np.array_equal(N(w), ref.T)
    i = ts.audio.info(speech_wav)
    assert (i.format, i.subtype, i.num_frames) == ("WAV", "PCM_16", ref.shape[0])


def test_speech_resample_and_features(sf, speech_wav):
    w, sr = ts.audio.load(speech_wav)
    x = N(w)[0].astype(np.float64)
    y = ts.audio.resample(w, sr, 16000)
    want = reference_resample(x, sr, 16000)
    assert y.shape[-1] == want.shape[-1] and np.max(np.abs(N(y)[0] - want)) < 1e-5
    y64 = N(ts.audio.resample(T(x), sr, 16000))
    assert np.max(np.abs(y64 - want)) < 1e-10
    # log-mel and MFCC of speech, both presets, at the file's rate and at 16 kHz
    for sig, rate in [(x, sr), (y64, 16000)]:
        got = N(ts.audio.power_to_db(ts.audio.mel_spectrogram(T(sig, ts.float32), sample_rate=rate,
                                                              preset="librosa")))
        want = librosa.power_to_db(librosa.feature.melspectrogram(y=sig, sr=rate))
        assert rel_err(got, want) < 5e-4
        got = N(ts.audio.mfcc(T(sig, ts.float32), sample_rate=rate, preset="librosa"))
        assert rel_err(got, librosa.feature.mfcc(y=sig, sr=rate)) < 5e-4
        got = N(ts.audio.mfcc(T(sig, ts.float32), sample_rate=rate, preset="torchaudio"))
        assert rel_err(got, torchaudio_mfcc(sig, rate)) < 5e-4


@pytest.mark.parametrize("n_fft", [16, 15])
def test_two_sided_stft_matches_the_full_fft_and_inverts(n_fft):
    x = np.random.default_rng(5).standard_normal(200)
    got = ts.audio.stft(ts.tensor(x), n_fft=n_fft, hop_length=4, onesided=False, pad_mode="constant").numpy()
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, n_fft // 2), n_fft)[::4]
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    ref = np.fft.fft(frames * win).T
    assert got.shape == ref.shape == (n_fft, frames.shape[0])
    np.testing.assert_allclose(got, ref, atol=1e-9)
    back = ts.audio.istft(ts.tensor(got), hop_length=4, onesided=False, length=200).numpy()
    np.testing.assert_allclose(back, x, atol=1e-9)
    # The real (re, im) form differentiates through the mirrored half too.
    xt = ts.tensor(x[:40]).requires_grad_()
    assert ts.autograd.gradcheck(lambda t: ts.audio.stft(t, n_fft=n_fft, hop_length=8, onesided=False,
                                                         return_complex=False), (xt,))
