#pragma once
// Audio to tensors (docs/audio.md): files through libsndfile (src/data/audio/sndfile.cpp,
// or no_sndfile.cpp when TESSEL_WITH_SNDFILE=OFF), and spectral features written
// with tessel ops (src/data/audio/features.cpp), so they differentiate.
// Waveforms are channels-first [..., channels, samples] float tensors in [-1, 1).
#include <cstdint>
#include <optional>
#include <string>

#include "tessel/data/transform.h"
#include "tessel/tensor.h"

namespace tessel::audio {

// ---- files (libsndfile) ----
TESSEL_API bool available();  // false when built without libsndfile

struct Info {
  int64_t sample_rate = 0;
  int64_t frames = 0;  // samples per channel; -1 when the header does not say
  int64_t channels = 0;
  std::string format;   // "WAV", "FLAC", "OGG", "MP3", ...
  std::string subtype;  // "PCM_16", "FLOAT", "VORBIS", ...
  double duration() const { return sample_rate ? double(frames) / double(sample_rate) : 0.0; }
};

struct LoadOptions {
  int64_t frame_offset = 0;
  int64_t num_frames = -1;      // -1: to the end
  bool normalize = true;        // float32 = int / 2^(bits-1); false: int16/int32 as stored (PCM only)
  bool mono = false;            // mean over channels -> [1, samples]
  bool channels_first = true;   // [channels, samples]; false: [samples, channels]
};

struct Audio {
  Tensor waveform;
  int64_t sample_rate = 0;
};

TESSEL_API Info info(const std::string& path);  // reads the header only
TESSEL_API Info info_bytes(const std::string& bytes);
TESSEL_API Audio load(const std::string& path, const LoadOptions& opts = {});
TESSEL_API Audio load_bytes(const std::string& bytes, const LoadOptions& opts = {});
// format from the extension (wav, flac, ogg, mp3 when libsndfile has it) unless
// given; subtype defaults to PCM_16 (WAV/FLAC) or VORBIS (OGG). Float input is
// clipped to [-1, 1] for integer subtypes.
TESSEL_API void save(const std::string& path, const Tensor& waveform, int64_t sample_rate,
                     const std::string& format = "", const std::string& subtype = "", bool channels_first = true);
TESSEL_API std::string save_bytes(const Tensor& waveform, int64_t sample_rate, const std::string& format,
                                  const std::string& subtype = "", bool channels_first = true);

// ---- windows ----
// "hann", "hamming", "blackman", "bartlett", "kaiser" (beta), "rectangular";
// periodic (the default, as for spectral analysis) or symmetric.
TESSEL_API Tensor window(const std::string& name, int64_t length, bool periodic = true, double beta = 12.0,
                         DType dtype = DType::Float32);

// ---- STFT ----
struct StftOptions {
  int64_t n_fft = 400;
  std::optional<int64_t> hop_length;  // default win_length / 4 (torch.stft and librosa)
  std::optional<int64_t> win_length;  // default n_fft
  Tensor window;                      // default periodic Hann of win_length; zero-padded to n_fft, centred
  bool center = true;                 // pad n_fft / 2 on both sides first
  std::string pad_mode = "reflect";   // "reflect" or "constant" (librosa >= 0.9) or "replicate"
  bool normalized = false;            // multiply by 1 / sqrt(sum(window^2)) (torch "window" normalization)
  bool onesided = true;               // n_fft / 2 + 1 bins; false: all n_fft (the rest are conjugates)
};

// [..., samples] -> complex [..., n_fft / 2 + 1, frames] (n_fft bins when not
// onesided); with return_complex false, real [..., bins, frames, 2], which is differentiable.
TESSEL_API Tensor stft(const Tensor& x, const StftOptions& opts = {}, bool return_complex = true);
// Inverse by weighted overlap-add (complex or (re, im) input); length trims or pads the result.
TESSEL_API Tensor istft(const Tensor& spec, const StftOptions& opts = {}, std::optional<int64_t> length = {});
// |stft|^power (power 2: power spectrogram, 1: magnitude): [..., freqs, frames].
TESSEL_API Tensor spectrogram(const Tensor& x, const StftOptions& opts = {}, double power = 2.0);

// ---- mel ----
// Triangular filters [n_freqs, n_mels] on linearly spaced FFT bins from 0 to
// sample_rate / 2 (torchaudio), or with n_fft given on the bins' own
// frequencies k * sample_rate / n_fft (librosa; they differ for odd n_fft).
// mel_scale "htk" (2595 log10(1 + f / 700)) or "slaney" (linear below 1 kHz,
// log above); norm "none" or "slaney" (area: 2 / band width).
TESSEL_API Tensor mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels, int64_t sample_rate,
                                 const std::string& norm = "none", const std::string& mel_scale = "htk",
                                 DType dtype = DType::Float32, std::optional<int64_t> n_fft = {});
TESSEL_API double hz_to_mel(double hz, const std::string& mel_scale = "htk");
TESSEL_API double mel_to_hz(double mel, const std::string& mel_scale = "htk");

// Every knob of the mel and MFCC features. The presets give each library's defaults:
// "torchaudio": n_fft 400, hop win_length / 2, reflect padding, n_mels 128, HTK scale, no norm,
// filters on linspace(0, sample_rate / 2), n_mfcc 40;
// "librosa": n_fft 2048, hop 512 (whatever n_fft is), constant (zero) padding, n_mels 128, Slaney scale and
// norm, filters on the FFT bins' frequencies (rfftfreq), n_mfcc 20.
struct TESSEL_API MelOptions {
  int64_t sample_rate = 16000;
  StftOptions stft;
  double power = 2.0;
  int64_t n_mels = 128;
  double f_min = 0.0;
  std::optional<double> f_max;  // default sample_rate / 2
  std::string norm = "none";
  std::string mel_scale = "htk";
  int64_t hop_divisor = 4;  // stft.hop_length unset: win_length / hop_divisor (torchaudio: 2)
  bool rfft_freqs = false;  // filters on k * sample_rate / n_fft (librosa), not linspace (torchaudio)
  static MelOptions preset(const std::string& name, int64_t sample_rate);
};
// [..., samples] -> [..., n_mels, frames]
TESSEL_API Tensor mel_spectrogram(const Tensor& x, const MelOptions& opts = {});

// 10 log10(max(x, amin) / ref) for power (multiplier 10) or 20 log10 for amplitude
// (multiplier 20); top_db floors each spectrogram (the last 3 dims, or all
// of a 2-d one) at its maximum minus top_db.
TESSEL_API Tensor amplitude_to_db(const Tensor& x, double multiplier = 10.0, double amin = 1e-10, double ref = 1.0,
                                  std::optional<double> top_db = {});

// DCT-II basis [n_mels, n_mfcc]; norm "ortho" or "none".
TESSEL_API Tensor dct_matrix(int64_t n_mfcc, int64_t n_mels, const std::string& norm = "ortho",
                             DType dtype = DType::Float32);

struct TESSEL_API MfccOptions {
  MelOptions mel;
  int64_t n_mfcc = 40;
  std::string dct_norm = "ortho";
  bool log_mels = false;             // log(mel + 1e-6) instead of decibels
  std::optional<double> top_db = 80.0;
  static MfccOptions preset(const std::string& name, int64_t sample_rate);
};
// [..., samples] -> [..., n_mfcc, frames]
TESSEL_API Tensor mfcc(const Tensor& x, const MfccOptions& opts = {});

// ---- resampling ----
struct TESSEL_API ResampleOptions {
  int64_t lowpass_filter_width = 6;
  double rolloff = 0.99;
  std::string method = "sinc_interp_hann";  // or "sinc_interp_kaiser"
  std::optional<double> beta;               // Kaiser; default 14.769656459379492
  // torchaudio computes the output length as ceil of a float32 quotient (one
  // sample short for some lengths); exact = false reproduces that.
  bool exact_length = false;
  // "default" (the above) or "kaiser_best" (64 zero crossings, rolloff 0.9475937167399596,
  // Kaiser beta 14.769656459379492: resampy's best, a high-quality mode).
  static ResampleOptions quality(const std::string& name);
};
// Windowed-sinc resampling along the last dim, as torchaudio.functional.resample.
TESSEL_API Tensor resample(const Tensor& x, int64_t orig_freq, int64_t new_freq, const ResampleOptions& opts = {});

// ---- transforms for the data loader (src/data/audio/transforms.cpp) ----
class TESSEL_API Resample final : public data::Transform {
 public:
  Resample(int64_t orig_freq, int64_t new_freq, ResampleOptions opts = {})
      : orig_(orig_freq), new_(new_freq), opts_(std::move(opts)) {}
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t orig_, new_;
  ResampleOptions opts_;
};

// Pads with zeros or cuts the last dim to `length` samples: at the start, or
// at a random offset (random = true, for training crops).
class TESSEL_API FixLength final : public data::Transform {
 public:
  FixLength(int64_t length, bool random = false) : length_(length), random_(random) {}
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t length_;
  bool random_;
};

// Mel spectrogram, in decibels (power_to_db with top_db) when to_db.
class TESSEL_API MelSpectrogram final : public data::Transform {
 public:
  explicit MelSpectrogram(MelOptions opts = {}, bool to_db = false, std::optional<double> top_db = 80.0)
      : opts_(std::move(opts)), to_db_(to_db), top_db_(top_db) {}
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  MelOptions opts_;
  bool to_db_;
  std::optional<double> top_db_;
};

// SpecAugment masks on a spectrogram [..., freq, time], as torchaudio's
// FrequencyMasking / TimeMasking: one band of width floor(u * mask_param) at
// a random start is set to mask_value (nullopt: the mean of the input). With
// iid_masks (inputs of 3+ dims), every spectrogram of the batch gets its own band;
// p caps the width at that fraction of the axis (TimeMasking).
class TESSEL_API AxisMasking : public data::Transform {
 public:
  AxisMasking(bool time, int64_t mask_param, bool iid_masks, double p, std::optional<double> mask_value);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  bool time_;
  int64_t mask_param_;
  bool iid_;
  double p_;
  std::optional<double> mask_value_;
};
class TESSEL_API FrequencyMasking final : public AxisMasking {
 public:
  explicit FrequencyMasking(int64_t freq_mask_param, bool iid_masks = false, std::optional<double> mask_value = 0.0)
      : AxisMasking(false, freq_mask_param, iid_masks, 1.0, mask_value) {}
};
class TESSEL_API TimeMasking final : public AxisMasking {
 public:
  explicit TimeMasking(int64_t time_mask_param, bool iid_masks = false, double p = 1.0,
                       std::optional<double> mask_value = 0.0)
      : AxisMasking(true, time_mask_param, iid_masks, p, mask_value) {}
};

class TESSEL_API MFCC final : public data::Transform {
 public:
  explicit MFCC(MfccOptions opts = {}) : opts_(std::move(opts)) {}
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  MfccOptions opts_;
};

}  // namespace tessel::audio
