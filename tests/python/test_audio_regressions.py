"""Regressions found by review, each against its reference: the torchaudio preset's hop
follows win_length (librosa called with torchaudio's parameters); the librosa preset's mel
filters on the FFT bins' own frequencies for odd n_fft (librosa); audio.info names every
libsndfile 1.2 format and subtype (soundfile); magnitude spectrograms have zero, not NaN,
gradients on digital silence (finite differences, and torchaudio's sgn(0) = 0 rule);
FrequencyMasking / TimeMasking (torchaudio's semantics, checked by their invariants)."""
import io

import numpy as np
import pytest

import tessel as ts
from tessel.autograd import gradcheck

librosa = pytest.importorskip("librosa", reason="librosa is the reference for the audio features")
sf = pytest.importorskip("soundfile", reason="soundfile is the reference for audio files")

pytestmark = pytest.mark.filterwarnings("ignore:Empty filters detected in mel frequency basis")


def signal(n, seed=0, amp=0.3):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return 0.4 * np.sin(2 * np.pi * 440 * t) + amp * rng.standard_normal(n)


def rel_err(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


# ---------------------------------------------------------------- torchaudio preset hop

@pytest.mark.parametrize("n_fft,win_length", [(1024, None), (512, None), (400, None), (1024, 800), (400, 256)])
def test_torchaudio_preset_hop_is_half_the_window(n_fft, win_length):
    x = signal(16000)
    kw = {} if win_length is None else dict(win_length=win_length)
    got = np.array(ts.audio.mel_spectrogram(ts.tensor(x), sample_rate=16000, preset="torchaudio", n_fft=n_fft, **kw))
    hop = (win_length or n_fft) // 2  # torchaudio: hop_length = win_length // 2, win_length = n_fft
    want = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=n_fft, hop_length=hop, win_length=win_length,
                                          pad_mode="reflect", htk=True, norm=None, n_mels=128)
    assert got.shape == want.shape == (128, 1 + 16000 // hop)
    assert rel_err(got, want) < 1e-5  # librosa's float32 filters
    # the transform and MFCC follow the same default
    t = ts.audio.MelSpectrogram(sample_rate=16000, n_fft=n_fft, **kw)
    assert rel_err(np.array(t(ts.tensor(x))), want) < 1e-5
    m = ts.audio.mfcc(ts.tensor(x), sample_rate=16000, n_fft=n_fft, **kw)
    assert tuple(m.shape) == (40, 1 + 16000 // hop)
    # an explicit hop_length still wins
    assert ts.audio.mel_spectrogram(ts.tensor(x), n_fft=n_fft, hop_length=100, **kw).shape[-1] == 161


# ---------------------------------------------------------------- librosa grid for odd n_fft

@pytest.mark.parametrize("n_fft", [511, 1023, 401, 2048, 255])
@pytest.mark.parametrize("htk,norm", [(False, "slaney"), (True, None)])
def test_mel_filterbank_on_rfft_bins_matches_librosa(n_fft, htk, norm):
    sr = 22050
    got = ts.audio.mel_filterbank(n_fft // 2 + 1, 0.0, sr / 2, 64, sr, norm=norm, mel_scale="htk" if htk else "slaney",
                                  dtype=ts.float64, n_fft=n_fft)
    want = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=64, htk=htk, norm=norm, dtype=np.float64)
    assert np.abs(np.array(got).T - want).max() < 1e-12


@pytest.mark.parametrize("n_fft", [511, 1023, 401])
def test_librosa_preset_odd_n_fft_matches_librosa(n_fft):
    sr = 22050
    x = signal(sr, seed=3)
    got = np.array(ts.audio.mel_spectrogram(ts.tensor(x), sample_rate=sr, preset="librosa", n_fft=n_fft))
    # librosa builds its filters in float32 (melspectrogram's default dtype)
    assert rel_err(got, librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft)) < 1e-6
    got = np.array(ts.audio.mfcc(ts.tensor(x), sample_rate=sr, preset="librosa", n_fft=n_fft))
    assert rel_err(got, librosa.feature.mfcc(y=x, sr=sr, n_fft=n_fft)) < 1e-5
    got = np.array(ts.audio.MelSpectrogram(sample_rate=sr, preset="librosa", n_fft=n_fft)(ts.tensor(x)))
    assert rel_err(got, librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft)) < 1e-6


def test_mel_filterbank_n_fft_errors():
    with pytest.raises(ValueError, match=r"\[audio\.mel_filterbank\] n_fft must be positive"):
        ts.audio.mel_filterbank(5, 0.0, 4000.0, 4, 8000, n_fft=0)


# ---------------------------------------------------------------- info names

def _formats():
    out = []
    for fmt in sorted(sf.available_formats()):
        if fmt == "RAW":  # a headerless file cannot be opened without stating its layout
            continue
        for sub in sorted(sf.available_subtypes(fmt)):
            if sf.check_format(fmt, sub):
                out.append((fmt, sub))
    return out


def test_info_names_every_format_and_subtype(tmp_path):
    x = 0.3 * np.sin(np.arange(8000) / 10)
    seen_fmt, seen_sub, checked = set(), set(), 0
    for fmt, sub in _formats():
        p = str(tmp_path / f"a_{fmt}_{sub}.{fmt.lower()}")
        try:
            sf.write(p, x, 8000, format=fmt, subtype=sub)
        except (RuntimeError, sf.LibsndfileError):  # a pair libsndfile lists but cannot write
            continue
        want = sf.info(p)
        got = ts.audio.info(p)
        assert (got.format, got.subtype) == (want.format, want.subtype), (fmt, sub)
        with open(p, "rb") as f:
            data = f.read()
        try:  # from memory too, where libsndfile can tell the format without the file name
            with sf.SoundFile(io.BytesIO(data)) as ref:
                want_mem = (ref.format, ref.subtype)
        except (RuntimeError, sf.LibsndfileError):
            want_mem = None
        if want_mem is not None:
            got = ts.audio.info(data)
            assert (got.format, got.subtype) == want_mem == (want.format, want.subtype), (fmt, sub)
        seen_fmt.add(want.format)
        seen_sub.add(want.subtype)
        checked += 1
    assert checked > 100 and len(seen_fmt) >= 20 and len(seen_sub) >= 25
    assert "unknown" not in seen_fmt | seen_sub


@pytest.mark.parametrize("fmt,sub", [("CAF", "ALAC_16"), ("NIST", "PCM_24"), ("VOC", "ULAW"), ("W64", "GSM610"),
                                     ("WAV", "IMA_ADPCM"), ("RF64", "FLOAT"), ("IRCAM", "ALAW"), ("AIFF", "PCM_S8")])
def test_save_in_more_formats(tmp_path, fmt, sub):
    x = (0.3 * np.sin(np.arange(4000) / 7)).astype(np.float32)[None]
    p = str(tmp_path / f"a.{fmt.lower()}")
    ts.audio.save(p, ts.tensor(x), 8000, subtype=sub)
    i = sf.info(p)
    # block codecs (ADPCM, GSM) and VOC round the length up to whole blocks
    assert (i.format, i.subtype, i.samplerate) == (fmt, sub, 8000) and 4000 <= i.frames < 4200
    y, _ = sf.read(p, dtype="float32")
    w, sr = ts.audio.load(p)
    assert sr == 8000 and np.array(w).shape == (1, i.frames)
    assert np.abs(np.array(w)[0] - y).max() < 1e-6


# ---------------------------------------------------------------- gradients on silence

def _padded(n_silent=600, n_sound=400, seed=5):
    x = np.zeros(n_silent + n_sound)
    x[n_silent:] = np.random.default_rng(seed).standard_normal(n_sound)
    return ts.tensor(x).requires_grad_()


@pytest.mark.parametrize("power", [1.0, 1.5, 0.5])
@pytest.mark.parametrize("fn", ["spectrogram", "mel_spectrogram"])
def test_magnitude_gradient_is_zero_on_silence(power, fn):
    x = _padded()
    n_fft, hop = 64, 32
    f = getattr(ts.audio, fn)
    kw = dict(n_fft=n_fft, hop_length=hop, center=False, power=power)
    if fn == "mel_spectrogram":
        kw.update(sample_rate=8000, n_mels=8)
    f(x, **kw).sum().backward()
    g = np.array(x.grad)
    assert np.isfinite(g).all()
    # samples that only silent frames see get exactly zero (torchaudio: sgn(0) = 0)
    last_silent_frame = (600 - n_fft) // hop
    only_silent = (last_silent_frame + 1) * hop
    assert (g[:only_silent] == 0).all()
    assert np.abs(g[600:]).max() > 0
    # all silence: zero gradients, and the forward value is 0
    z = ts.zeros(512, dtype=ts.float64).requires_grad_()
    y = f(z, **kw)
    assert float(y.abs().max()) == 0.0
    y.sum().backward()
    assert (np.array(z.grad) == 0).all()


@pytest.mark.parametrize("center", [True, False])
def test_magnitude_gradcheck_away_from_zero(center):
    x = ts.tensor(np.random.default_rng(7).standard_normal(96)).requires_grad_()
    assert gradcheck(lambda v: ts.audio.spectrogram(v, n_fft=16, hop_length=8, center=center, power=1.0), [x])
    assert gradcheck(lambda v: ts.audio.spectrogram(v, n_fft=16, hop_length=8, center=center, power=1.5), [x])
    assert gradcheck(lambda v: ts.audio.mel_spectrogram(v, sample_rate=8000, n_fft=32, hop_length=16, n_mels=6,
                                                        power=1.0, center=center), [x])


def test_zero_padded_batch_trains():
    # a zero-padded clip next to a full one: every gradient is finite, the padded part's is 0
    x = np.zeros((2, 800))
    x[0] = np.random.default_rng(1).standard_normal(800)
    x[1, :300] = np.random.default_rng(2).standard_normal(300)
    t = ts.tensor(x).requires_grad_()
    ts.audio.mfcc(t, sample_rate=8000, n_fft=64, hop_length=32, n_mels=16, n_mfcc=8, power=1.0,
                  center=False).sum().backward()
    g = np.array(t.grad)
    assert np.isfinite(g).all()
    assert (g[1, 320 + 64:] == 0).all()


def test_abs_and_norm_gradients_at_zero():
    # torch's rules: d|x|/dx = sgn(x), 0 at 0; the 2-norm's gradient at 0 is 0; sqrt's is inf at 0
    x = ts.tensor([0.0, -0.0, 2.0, -3.0], dtype=ts.float64).requires_grad_()
    ts.abs(x).sum().backward()
    assert np.array(x.grad).tolist() == [0.0, 0.0, 1.0, -1.0]
    z = ts.zeros(3, dtype=ts.float64).requires_grad_()
    ts.norm(z).backward()
    assert np.array(z.grad).tolist() == [0.0, 0.0, 0.0]
    s = ts.tensor([0.0, 4.0], dtype=ts.float64).requires_grad_()
    ts.sqrt(s).sum().backward()
    assert np.array(s.grad).tolist() == [float("inf"), 0.25]


# ---------------------------------------------------------------- masking

def _spec(shape, seed=0):
    return ts.tensor(np.random.default_rng(seed).uniform(1.0, 2.0, shape))  # no zeros: masked entries are 0


def _band(masked, axis):
    """The masked [start, end) along `axis` of a 2-d boolean map, checking that it is one full band."""
    along = masked.any(axis=1 - axis)
    idx = np.flatnonzero(along)
    if idx.size == 0:
        return 0, 0
    start, end = idx[0], idx[-1] + 1
    assert along[start:end].all()
    band = masked.take(np.arange(start, end), axis=axis)
    assert band.all()  # the band covers the whole other axis
    return start, end


@pytest.mark.parametrize("cls,axis", [(ts.audio.FrequencyMasking, 0), (ts.audio.TimeMasking, 1)])
def test_masking_band_shared_across_batch(cls, axis):
    x = _spec((3, 2, 40, 50))
    t = cls(15)
    widths = []
    for seed in range(200):
        y = np.array(t(x, seed=seed))
        masked = y == 0
        assert (y[~masked] == np.array(x)[~masked]).all()
        s, e = _band(masked[0, 0], axis)
        for b in range(3):
            for c in range(2):
                assert (masked[b, c] == masked[0, 0]).all()  # one band for all (iid_masks=False)
        assert 0 <= e - s < 15 and e <= x.shape[2 + axis]
        widths.append(e - s)
    assert set(widths) == set(range(15))  # floor(u * 15): every width from 0 to 14
    assert abs(np.mean(widths) - 7.0) < 1.0


@pytest.mark.parametrize("cls,axis", [(ts.audio.FrequencyMasking, 0), (ts.audio.TimeMasking, 1)])
def test_masking_iid(cls, axis):
    x = _spec((8, 30, 30))
    y = np.array(cls(20, iid_masks=True)(x, seed=3)) == 0
    bands = {_band(y[b], axis) for b in range(8)}
    assert len(bands) > 1
    with pytest.raises(ValueError, match=r"3 or more dims with iid_masks"):
        cls(5, iid_masks=True)(_spec((30, 30)))


def test_masking_axes_of_a_2d_spectrogram():
    x = _spec((20, 60))
    f = np.array(ts.audio.FrequencyMasking(10)(x, seed=11)) == 0
    t = np.array(ts.audio.TimeMasking(10)(x, seed=11)) == 0
    if f.any():
        assert f.any(axis=1).sum() < 10 and f[f.any(axis=1)].all()  # whole rows (freq bins)
    if t.any():
        assert t.any(axis=0).sum() < 10 and t[:, t.any(axis=0)].all()  # whole columns (frames)


def test_time_masking_p_caps_the_width():
    x = _spec((4, 50))
    t = ts.audio.TimeMasking(100, p=0.1)  # at most int(50 * 0.1) = 5 frames
    widths = [(np.array(t(x, seed=s)) == 0).any(axis=0).sum() for s in range(100)]
    assert max(widths) <= 4 and max(widths) >= 3
    assert (np.array(ts.audio.TimeMasking(100, p=0.0)(x, seed=1)) == np.array(x)).all()  # p=0: no mask
    assert (np.array(ts.audio.TimeMasking(0)(x, seed=1)) == np.array(x)).all()


def test_masking_mean_value_and_seeding():
    x = _spec((2, 16, 40))
    mean = float(x.mean())
    t = ts.audio.TimeMasking(30, mask_value="mean")
    for seed in range(10):
        y = np.array(t(x, seed=seed))
        changed = y != np.array(x)
        assert np.allclose(y[changed], mean)
    ts.manual_seed(0)
    a = np.array(ts.audio.FrequencyMasking(12)(x))
    ts.manual_seed(0)
    b = np.array(ts.audio.FrequencyMasking(12)(x))
    assert (a == b).all()
    outs = {np.array(ts.audio.FrequencyMasking(12)(x)).tobytes() for _ in range(8)}
    assert len(outs) > 1
    y = ts.audio.TimeMasking(10, mask_value=-1.5)(x, seed=2)
    assert set(np.unique(np.array(y)[np.array(y) < 1.0])) <= {-1.5}
    assert "TimeMasking(time_mask_param=10" in repr(ts.audio.TimeMasking(10))


def test_masking_in_a_pipeline_and_errors():
    wav = ts.tensor(np.random.default_rng(0).standard_normal((1, 8000)).astype(np.float32))
    pipe = ts.data.Compose([ts.audio.MelSpectrogram(sample_rate=8000, n_mels=32), ts.audio.FrequencyMasking(8),
                            ts.audio.TimeMasking(10, p=0.5)])
    out = pipe(wav, seed=4)
    assert tuple(out.shape) == (1, 32, 41) and out.dtype == ts.float32
    with pytest.raises(ValueError, match=r"\[audio\.TimeMasking\] expects a spectrogram"):
        ts.audio.TimeMasking(3)(ts.ones(10))
    with pytest.raises(ValueError, match=r"\[audio\.TimeMasking\] p must be in \[0, 1\]"):
        ts.audio.TimeMasking(3, p=1.5)
    with pytest.raises(ValueError, match=r"\[audio\.FrequencyMasking\] freq_mask_param must be non-negative"):
        ts.audio.FrequencyMasking(-1)
    with pytest.raises(ValueError, match="mask_value must be a number or 'mean'"):
        ts.audio.FrequencyMasking(3, mask_value="median")
    with pytest.raises(TypeError, match=r"\[audio\.FrequencyMasking\] expects a floating spectrogram"):
        ts.audio.FrequencyMasking(3)(ts.ones(4, 4, dtype=ts.int64))


def test_mel_filterbank_size_overflow_is_an_error():
    # n_freqs * n_mels overflowed int64: a small table was allocated and written past (a crash).
    with pytest.raises(ValueError, match="audio.mel_filterbank.*overflows"):
        ts.audio.mel_filterbank(2**40, 0.0, 8000.0, 2**30, 16000)
    with pytest.raises(ValueError, match="audio.mel_filterbank"):
        ts.audio.mel_filterbank(201, 0.0, 8000.0, 2**63 - 1, 16000)
