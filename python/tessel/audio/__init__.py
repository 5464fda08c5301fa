"""Audio to tensors: files through libsndfile, and spectral features (docs/audio.md).

    wav, sr = ts.audio.load("speech.flac")                 # float32 [channels, samples] in [-1, 1)
    wav16 = ts.audio.resample(wav, sr, 16000)               # torchaudio's windowed sinc
    mel = ts.audio.mel_spectrogram(wav16, preset="torchaudio")
    mfcc = ts.audio.mfcc(wav, sample_rate=sr, preset="librosa")

Every spectral function is written with tessel ops: pass return_complex=False
to stft, or use spectrogram / mel_spectrogram / mfcc, to differentiate.
Presets give each library's defaults; keyword arguments override them.
"""
import os

from .. import _C

_a = _C._audio
available = _a.available()

__all__ = ["available", "info", "load", "save", "encode", "window", "stft", "istft", "spectrogram",
           "mel_filterbank", "hz_to_mel", "mel_to_hz", "mel_spectrogram", "amplitude_to_db", "power_to_db",
           "dct_matrix", "mfcc", "resample", "PRESETS"]

PRESETS = ("torchaudio", "librosa")


def info(source):
    """Sample rate, frames, channels, format and subtype of a file (path or bytes), without decoding it."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _a.info_bytes(bytes(source))
    return _a.info(os.fspath(source))


def load(source, frame_offset=0, num_frames=-1, normalize=True, mono=False, channels_first=True):
    """Decodes a file (path or bytes) to (waveform, sample_rate).

    waveform is float32 [channels, samples] in [-1, 1) (int / 2**(bits - 1));
    normalize=False keeps 8/16-bit PCM as int16 and 24/32-bit PCM as int32;
    mono=True averages the channels to [1, samples].
    """
    o = _a.LoadOptions()
    o.frame_offset, o.num_frames, o.normalize, o.mono, o.channels_first = (
        frame_offset, num_frames, normalize, mono, channels_first)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _a.load_bytes(bytes(source), o)
    return _a.load(os.fspath(source), o)


def save(path, waveform, sample_rate, format=None, subtype=None, channels_first=True):
    """Writes waveform ([channels, samples], float in [-1, 1] or int16/int32) to path.

    format comes from the extension unless given (wav, flac, ogg, mp3, aiff, au, w64, caf,
    rf64, ... : every libsndfile major format, by soundfile's name); subtype defaults to
    PCM_16 (VORBIS for ogg, MPEG_LAYER_III for mp3). Floats are clipped for integer subtypes.
    """
    _a.save(os.fspath(path), waveform, int(sample_rate), format or "", subtype or "", channels_first)


def encode(waveform, sample_rate, format="wav", subtype=None, channels_first=True):
    """The bytes of an audio file holding waveform (see save)."""
    return _a.save_bytes(waveform, int(sample_rate), format, subtype or "", channels_first)


def window(name="hann", length=400, periodic=True, beta=12.0, dtype=None):
    """hann, hamming, blackman, bartlett, kaiser (beta) or rectangular; periodic by default."""
    from .. import float32
    return _a.window(name, length, periodic, beta, dtype or float32)


def _stft_options(n_fft=400, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",
                  normalized=False, onesided=True):
    o = _a.StftOptions()
    o.onesided = onesided
    o.n_fft = n_fft
    o.hop_length = hop_length
    o.win_length = win_length
    if window is not None:
        o.window = window
    o.center = center
    o.pad_mode = pad_mode
    o.normalized = normalized
    return o


def stft(x, n_fft=400, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",
         normalized=False, onesided=True, return_complex=True):
    """Short-time Fourier transform of [..., samples]: complex [..., n_fft // 2 + 1, frames].

    hop_length defaults to win_length // 4 and window to a periodic Hann of win_length
    (as torch.stft with window=torch.hann_window and librosa.stft). return_complex=False
    gives real [..., bins, frames, 2], which is differentiable. onesided=False
    returns all n_fft bins (the upper ones are conjugates of the lower).
    """
    return _a.stft(x, _stft_options(n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided),
                   return_complex)


def istft(spec, n_fft=None, hop_length=None, win_length=None, window=None, center=True, normalized=False,
          onesided=True, length=None):
    """Inverse STFT by windowed overlap-add (torch.istft); n_fft defaults to 2 * (bins - 1),
    or to bins with onesided=False (a two-sided spectrum)."""
    if n_fft is None:
        complex_input = spec.dtype in (_C.dtype.complex64, _C.dtype.complex128)
        if spec.dim() < (2 if complex_input else 3):
            raise ValueError("[audio.istft] expects a complex [..., bins, frames] or real [..., bins, frames, 2] "
                             f"spectrogram, got shape {tuple(spec.shape)} of {spec.dtype}")
        bins = spec.shape[-2 if complex_input else -3]
        n_fft = bins if not onesided else 2 * (bins - 1)
    return _a.istft(spec, _stft_options(n_fft, hop_length, win_length, window, center, "reflect", normalized,
                                        onesided), length)


def spectrogram(x, n_fft=400, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",
                normalized=False, power=2.0):
    """|stft(x)| ** power: [..., n_fft // 2 + 1, frames] (torchaudio.transforms.Spectrogram
    defaults except hop_length, which follows torch.stft: win_length // 4)."""
    return _a.spectrogram(x, _stft_options(n_fft, hop_length, win_length, window, center, pad_mode, normalized),
                          power)


def mel_filterbank(n_freqs, f_min, f_max, n_mels, sample_rate, norm=None, mel_scale="htk", dtype=None, n_fft=None):
    """Triangular mel filters [n_freqs, n_mels] (torchaudio.functional.melscale_fbanks: bins
    evenly from 0 to sample_rate / 2). With n_fft, the bins sit on their own frequencies
    k * sample_rate / n_fft: the transpose of librosa.filters.mel(n_fft=n_fft,
    htk=(mel_scale == "htk")), which differs for odd n_fft."""
    from .. import float32
    return _a.mel_filterbank(n_freqs, f_min, f_max, n_mels, sample_rate, norm or "none", mel_scale,
                             dtype or float32, n_fft)


hz_to_mel = _a.hz_to_mel
mel_to_hz = _a.mel_to_hz

_UNSET = object()


def _mel_options(preset, sample_rate, kw):
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"[audio.mel_spectrogram] unknown preset {preset!r} (one of {PRESETS})")
    o = _a.MelOptions.preset(preset or "torchaudio", sample_rate)
    s = o.stft
    for name in ("n_fft", "hop_length", "win_length", "window", "center", "pad_mode", "normalized"):
        v = kw.pop(name, _UNSET)
        if v is not _UNSET and v is not None:
            setattr(s, name, v)
    o.stft = s
    if "norm" in kw and kw["norm"] is None:  # norm=None means no normalization, as in librosa
        kw["norm"] = "none"
    for name in ("power", "n_mels", "f_min", "f_max", "norm", "mel_scale"):
        v = kw.pop(name, _UNSET)
        if v is not _UNSET and v is not None:
            setattr(o, name, v)
    if kw:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kw))}")
    return o


def mel_spectrogram(x, sample_rate=16000, preset=None, **kwargs):
    """Mel power spectrogram [..., n_mels, frames].

    preset "torchaudio" (the default: n_fft 400, hop win_length // 2, reflect padding,
    HTK scale, no norm) or "librosa" (n_fft 2048, hop 512 as librosa's, zero padding,
    Slaney scale and norm, filters on the FFT bins' frequencies); win_length defaults to n_fft;
    any of n_fft, hop_length, win_length, window, center, pad_mode, normalized,
    power, n_mels, f_min, f_max, norm, mel_scale overrides the preset.
    """
    return _a.mel_spectrogram(x, _mel_options(preset, sample_rate, dict(kwargs)))


def amplitude_to_db(x, multiplier=20.0, amin=1e-10, ref=1.0, top_db=None):
    """multiplier * log10(max(x, amin) / ref), floored at max - top_db per spectrogram."""
    return _a.amplitude_to_db(x, multiplier, amin, ref, top_db)


def power_to_db(x, amin=1e-10, ref=1.0, top_db=80.0):
    """10 * log10(max(x, amin) / ref), floored at max - top_db (librosa.power_to_db defaults)."""
    return _a.amplitude_to_db(x, 10.0, amin, ref, top_db)


def dct_matrix(n_mfcc, n_mels, norm="ortho", dtype=None):
    """DCT-II basis [n_mels, n_mfcc] (torchaudio.functional.create_dct)."""
    from .. import float32
    return _a.dct_matrix(n_mfcc, n_mels, norm or "none", dtype or float32)


def _mfcc_options(sample_rate, preset, n_mfcc, dct_norm, log_mels, top_db, mel_kwargs):
    o = _a.MfccOptions.preset(preset or "torchaudio", sample_rate)
    o.mel = _mel_options(preset, sample_rate, dict(mel_kwargs))
    if n_mfcc is not None:
        o.n_mfcc = n_mfcc
    o.dct_norm = dct_norm or "none"
    o.log_mels = log_mels
    if top_db is not _UNSET:
        o.top_db = top_db
    return o


def mfcc(x, sample_rate=16000, preset=None, n_mfcc=None, dct_norm="ortho", log_mels=False, top_db=_UNSET,
         **mel_kwargs):
    """MFCC [..., n_mfcc, frames]: DCT-II of the decibel mel spectrogram.

    preset "torchaudio" (default; n_mfcc 40, top_db 80) or "librosa" (n_mfcc 20,
    top_db 80); mel keyword arguments as for mel_spectrogram.
    """
    return _a.mfcc(x, _mfcc_options(sample_rate, preset, n_mfcc, dct_norm, log_mels, top_db, mel_kwargs))


def resample(x, orig_freq, new_freq, lowpass_filter_width=None, rolloff=None, method=None, beta=None,
             quality="default", exact_length=False):
    """Resamples the last dim from orig_freq to new_freq (torchaudio.functional.resample).

    quality "default" (Hann window, width 6, rolloff 0.99), "kaiser_best" (width 64,
    Kaiser, a high-quality mode) or "kaiser_fast"; the other arguments override it.
    exact_length=True gives ceil(new * n / orig) samples; False reproduces torchaudio,
    whose float32 quotient is one sample short for some lengths.
    """
    o = _a.ResampleOptions.quality(quality)
    if lowpass_filter_width is not None:
        o.lowpass_filter_width = lowpass_filter_width
    if rolloff is not None:
        o.rolloff = rolloff
    if method is not None:
        o.method = method
    if beta is not None:
        o.beta = beta
    o.exact_length = exact_length
    return _a.resample(x, int(orig_freq), int(new_freq), o)


# ---- transforms: C++ objects that ts.data loaders run on their worker threads ----
# Each is callable, t(x, seed=None), through the shared C++ base class (ts.data.Transform).

class Resample(_a.Resample):
    """resample(x, orig_freq, new_freq, ...) as a transform."""

    def __init__(self, orig_freq, new_freq, quality="default", **kwargs):
        o = _a.ResampleOptions.quality(quality)
        for k, v in kwargs.items():
            setattr(o, k, v)
        _a.Resample.__init__(self, int(orig_freq), int(new_freq), o)


class FixLength(_a.FixLength):
    """Pads with zeros or cuts the last dim to `length` samples (a random crop when random=True)."""

    def __init__(self, length, random=False):
        _a.FixLength.__init__(self, int(length), bool(random))


class MelSpectrogram(_a.MelSpectrogram):
    """mel_spectrogram(x, ...) as a transform; to_db=True applies power_to_db(top_db)."""

    def __init__(self, sample_rate=16000, preset=None, to_db=False, top_db=80.0, **kwargs):
        _a.MelSpectrogram.__init__(self, _mel_options(preset, sample_rate, dict(kwargs)), to_db, top_db)


class MFCC(_a.MFCC):
    """mfcc(x, ...) as a transform."""

    def __init__(self, sample_rate=16000, preset=None, n_mfcc=None, dct_norm="ortho", log_mels=False,
                 top_db=_UNSET, **mel_kwargs):
        _a.MFCC.__init__(self, _mfcc_options(sample_rate, preset, n_mfcc, dct_norm, log_mels, top_db, mel_kwargs))


def _mask_value(mask_value, op):
    if isinstance(mask_value, str):
        if mask_value != "mean":
            raise ValueError(f"[audio.{op}] mask_value must be a number or 'mean', got {mask_value!r}")
        return None
    return float(mask_value)


class FrequencyMasking(_a.AxisMasking):
    """torchaudio.transforms.FrequencyMasking on a spectrogram [..., freq, time]: a band of
    floor(u * freq_mask_param) bins at a random start is set to mask_value (a number, or
    "mean": the mean of the input, as SpecAugment(zero_masking=False)). The same band for the
    whole input, or one per spectrogram of a [batch, ..., freq, time] input with iid_masks=True.
    Random draws come from tessel's generator (ts.manual_seed), or t(x, seed=...)."""

    def __init__(self, freq_mask_param, iid_masks=False, mask_value=0.0):
        _a.AxisMasking.__init__(self, False, int(freq_mask_param), bool(iid_masks), 1.0,
                                _mask_value(mask_value, "FrequencyMasking"))


class TimeMasking(_a.AxisMasking):
    """torchaudio.transforms.TimeMasking on a spectrogram [..., freq, time]: as
    FrequencyMasking along time; p (in [0, 1]) caps the band at p * frames."""

    def __init__(self, time_mask_param, iid_masks=False, p=1.0, mask_value=0.0):
        _a.AxisMasking.__init__(self, True, int(time_mask_param), bool(iid_masks), float(p),
                                _mask_value(mask_value, "TimeMasking"))


__all__ += ["Resample", "FixLength", "MelSpectrogram", "MFCC", "FrequencyMasking", "TimeMasking"]
