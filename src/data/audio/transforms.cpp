// Audio transforms for the data loader: each wraps one feature function, so
// the loader's worker threads can resample, crop and featurize.
#include "tessel/data/audio.h"
#include "tessel/data/loader.h"
#include "tessel/ops.h"

namespace tessel::audio {

// FileDataset(..., decode="audio"): float32 [channels, samples].
const bool registered = [] {
  data::register_decoder("audio", [](const std::string& path) { return load(path).waveform; });
  return true;
}();

Tensor Resample::apply(const Tensor& x, data::Rng&) const { return resample(x, orig_, new_, opts_); }
std::string Resample::repr() const { return detail::cat("Resample(orig_freq=", orig_, ", new_freq=", new_, ")"); }

Tensor FixLength::apply(const Tensor& x, data::Rng& rng) const {
  TS_CHECK(length_ >= 0, ValueError, "audio.FixLength", "length must be non-negative, got ", length_);
  TS_CHECK(x.dim() >= 1, ValueError, "audio.FixLength", "expects [..., samples], got a 0-d tensor");
  const int64_t n = x.size(-1);
  if (n >= length_) {
    const int64_t start = random_ ? rng.integer(0, n - length_) : 0;
    return x.narrow(-1, start, length_).contiguous();
  }
  const bool one_d = x.dim() == 1;
  Tensor y = pad(one_d ? x.unsqueeze(0) : x, {0, length_ - n});
  return one_d ? y.squeeze(0) : y;
}
std::string FixLength::repr() const {
  return detail::cat("FixLength(length=", length_, ", random=", random_ ? "True" : "False", ")");
}

Tensor MelSpectrogram::apply(const Tensor& x, data::Rng&) const {
  Tensor m = mel_spectrogram(x, opts_);
  return to_db_ ? amplitude_to_db(m, 10.0, 1e-10, 1.0, top_db_) : m.contiguous();
}
std::string MelSpectrogram::repr() const {
  return detail::cat("MelSpectrogram(sample_rate=", opts_.sample_rate, ", n_fft=", opts_.stft.n_fft,
                     ", n_mels=", opts_.n_mels, ", to_db=", to_db_ ? "True" : "False", ")");
}

Tensor MFCC::apply(const Tensor& x, data::Rng&) const { return mfcc(x, opts_).contiguous(); }
std::string MFCC::repr() const {
  return detail::cat("MFCC(sample_rate=", opts_.mel.sample_rate, ", n_mfcc=", opts_.n_mfcc, ", n_mels=",
                     opts_.mel.n_mels, ")");
}

}  // namespace tessel::audio
