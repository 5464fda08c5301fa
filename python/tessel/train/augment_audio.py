"""Training-time augmentation of audio clips (data.audio.augment): the
training part's waveforms, kept in memory, become new log-mel batches every
epoch, so the model never sees the same clip twice.

Per clip, in order: a random time shift (circular), noise mixed in at a
random signal-to-noise ratio (colored noise, from white to brown), the log-mel
of the data's recipe (the same ts.audio.MelSpectrogram as the clean features),
the training mean/std scaling, then SpecAugment masks: frequency bands and
time spans set to 0, the training mean after scaling (ts.audio.FrequencyMasking
and TimeMasking, drawn per clip). Validation, evaluation and prediction
read the clean features: only the training loader augments.

Every draw comes from a NumPy generator seeded with (seed, epoch): the same
seed gives the same batches.
"""
import numpy as np

import tessel as ts

__all__ = ["AudioAugmentLoader", "shift", "mix_noise", "noise_bank", "colored_noise", "spec_masks"]

NOISES = 32  # noises in a loader's bank (each used at random offsets and levels)


def shift(wave, max_shift, rng):
    """wave [B, ..., samples] with each clip rotated by a uniform integer in
    [-max_shift, max_shift] samples: what leaves one end comes back at the
    other, so a clip's background goes on (zero-filled shifts put silent
    stretches into noisy clips, which no real clip has: 79% against 88%
    without augmentation on the raw-file bench's noisy words)."""
    out = np.empty_like(wave)
    for b, k in enumerate(rng.integers(-max_shift, max_shift + 1, size=wave.shape[0])):
        out[b] = np.roll(wave[b], int(k), axis=-1)
    return out


def colored_noise(shape, rng, alpha):
    """Unit-RMS noise [B, samples] whose power falls as 1 / f**alpha[b]
    (0: white, 1: pink, 2: brown), shaped in the frequency domain."""
    b, n = shape
    spec = np.fft.rfft(rng.standard_normal((b, n)), axis=-1)
    f = np.arange(spec.shape[-1], dtype=np.float64)
    f[0] = 1.0  # no infinite gain at DC
    spec *= f[None, :] ** (-np.asarray(alpha, dtype=np.float64)[:, None] / 2)
    x = np.fft.irfft(spec, n=n, axis=-1)
    x -= x.mean(-1, keepdims=True)
    return x / (np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True)) + 1e-12)


def noise_bank(n, samples, rng):
    """n unit-RMS noises [n, samples], float32, their slopes alpha spread over
    [0, 2] (white to brown): drawn once per loader, so that each batch only
    indexes them (fresh FFT noise for every clip was most of an epoch's cost)."""
    return colored_noise((n, samples), rng, np.linspace(0.0, 2.0, n)).astype(np.float32)


def mix_noise(wave, prob, snr_db, rng, bank):
    """wave [B, 1, samples] with noise added to each clip with probability
    `prob`, at an SNR drawn uniformly from snr_db = (low, high) dB relative to
    the clip's RMS: a random noise of `bank` [K, samples] (unit RMS), started
    at a random offset (circularly). Silent clips stay silent."""
    b, n = wave.shape[0], wave.shape[-1]
    on = rng.random(b) < prob
    snr = rng.uniform(snr_db[0], snr_db[1], size=b)
    which = rng.integers(bank.shape[0], size=b)
    offset = rng.integers(bank.shape[1], size=b)
    if bank.shape[1] != n:
        raise ValueError(f"[augment_audio.mix_noise] noises of {bank.shape[1]} samples for clips of {n}")
    out = wave.copy()
    flat = out.reshape(b, n)  # a view: [B, 1, samples] clips are one channel
    rms = np.sqrt(np.mean(wave.reshape(b, n).astype(np.float64) ** 2, axis=1))
    for r in np.flatnonzero(on):
        g = np.float32(rms[r] / 10 ** (snr[r] / 20))
        k, noise = int(offset[r]), bank[which[r]]
        flat[r, :n - k] += g * noise[k:]
        flat[r, n - k:] += g * noise[:k]
    return out


# SpecAugment's upper bound p: a time mask covers at most this share of the frames, so that a
# short clip keeps most of itself whatever time_width says.
TIME_SHARE = 0.2


def spec_masks(x, freq_masks, freq_width, time_masks, time_width, rng):
    """x [B, ..., freq, time] with freq_masks bands of up to freq_width bins and
    time_masks spans of up to min(time_width, TIME_SHARE * frames) frames set
    to 0, drawn per clip."""
    for n, t in ((freq_masks, ts.audio.FrequencyMasking(freq_width, iid_masks=True)),
                 (time_masks, ts.audio.TimeMasking(time_width, iid_masks=True, p=TIME_SHARE))):
        for _ in range(n):  # a width of 0 masks nothing
            x = t(x, seed=int(rng.integers(2**62)))
    return x


class AudioAugmentLoader:
    """Batches (x [B, 1, n_mels, frames] float32, y) of freshly augmented
    clips, shuffled, one pass per epoch; what Trainer.fit takes as a loader.

    waveforms: [N, 1, samples] float32 at pre's rate and length; y: the
    targets; pre: the audio recipe (sources.audio_preprocess, with the
    training mean/std); aug: the data.audio.augment section."""

    def __init__(self, waveforms, y, pre, aug, batch_size, seed=0):
        from .sources import audio_mel
        self.wave = waveforms.numpy() if isinstance(waveforms, ts.Tensor) else np.asarray(waveforms, np.float32)
        if self.wave.ndim != 3 or self.wave.shape[1] != 1:
            raise ValueError(f"[AudioAugmentLoader] waveforms must be [N, 1, samples], got {self.wave.shape}")
        self.y = y
        if y.shape[0] != self.wave.shape[0]:
            raise ValueError(f"[AudioAugmentLoader] {self.wave.shape[0]} waveforms but {y.shape[0]} targets")
        self.mel = audio_mel(pre)
        self.mean, self.std = float(pre["mean"]), float(pre["std"])
        self.max_shift = int(round(aug["shift"] * pre["sample_rate"]))
        self.aug, self.batch_size, self.seed = aug, int(batch_size), int(seed)
        self.epoch = 0
        self.bank = None
        if aug["noise"] > 0:
            self.bank = noise_bank(NOISES, self.wave.shape[-1], np.random.default_rng([self.seed, 2**31]))

    def __len__(self):
        return -(-self.wave.shape[0] // self.batch_size)

    def batch(self, idx, rng):
        """The augmented, scaled log-mel of the clips idx."""
        a = self.aug
        w = self.wave[idx]
        if self.max_shift > 0:
            w = shift(w, self.max_shift, rng)
        if a["noise"] > 0:
            w = mix_noise(w, a["noise"], a["snr"], rng, self.bank)
        x = (self.mel(ts.from_numpy(np.ascontiguousarray(w, dtype=np.float32))) - self.mean) / self.std
        return spec_masks(x, a["freq_masks"], a["freq_width"], a["time_masks"], a["time_width"], rng)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        order = rng.permutation(self.wave.shape[0])
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            yield self.batch(idx, rng), self.y.index_select(0, ts.from_numpy(idx.astype(np.int64)))
