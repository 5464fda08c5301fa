// Audio transforms for the data loader: each wraps one feature function, so
// the loader's worker threads can resample, crop and featurize.
#include <algorithm>
#include <cmath>
#include <vector>

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

AxisMasking::AxisMasking(bool time, int64_t mask_param, bool iid_masks, double p, std::optional<double> mask_value)
    : time_(time), mask_param_(mask_param), iid_(iid_masks), p_(p), mask_value_(mask_value) {
  const char* op = time ? "audio.TimeMasking" : "audio.FrequencyMasking";
  TS_CHECK(mask_param >= 0, ValueError, op, time ? "time_mask_param" : "freq_mask_param", " must be non-negative, got ",
           mask_param);
  TS_CHECK(p >= 0.0 && p <= 1.0, ValueError, op, "p must be in [0, 1], got ", p);
}

// torchaudio draws every width first, then every start: start = floor(v * (n - width_f))
// with width_f = u * mask_param (a float) and the band [start, start + floor(width_f)).
Tensor AxisMasking::apply(const Tensor& x, data::Rng& rng) const {
  const char* op = time_ ? "audio.TimeMasking" : "audio.FrequencyMasking";
  TS_CHECK(x.dim() >= (iid_ ? 3 : 2), ValueError, op, "expects a spectrogram [", iid_ ? "batch, " : "",
           "..., freq, time]", iid_ ? " of 3 or more dims with iid_masks" : "", ", got shape ", x.shape());
  TS_CHECK(is_floating(x.dtype()), TypeError, op, "expects a floating spectrogram, got ", x.dtype());
  const int64_t axis = time_ ? x.dim() - 1 : x.dim() - 2, n = x.size(axis);
  const int64_t param = p_ == 1.0 ? mask_param_ : std::min<int64_t>(mask_param_, int64_t(double(n) * p_));
  if (param < 1 || x.numel() == 0) return x;
  const int64_t B = iid_ ? x.numel() / (x.size(-1) * x.size(-2)) : 1;
  std::vector<double> width(static_cast<size_t>(B));
  for (auto& w : width) w = rng.uniform() * double(param);
  Shape shape(x.shape().begin(), x.shape().end() - 2);
  if (!iid_) shape.assign(x.dim() - 2, 1);
  shape.push_back(time_ ? 1 : n);
  shape.push_back(time_ ? n : 1);
  Tensor mask = zeros(shape, TensorOptions(DType::Bool));
  bool* m = mask.data<bool>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = int64_t(std::floor(rng.uniform() * (double(n) - width[b])));
    const int64_t end = std::min(n, start + int64_t(width[b]));
    for (int64_t k = std::max<int64_t>(start, 0); k < end; ++k) m[b * n + k] = true;
  }
  const double value = mask_value_ ? *mask_value_ : mean(x).item<double>();
  return masked_fill(x, mask.to(x.device()), Scalar(value));
}

std::string AxisMasking::repr() const {
  std::string s = time_ ? detail::cat("TimeMasking(time_mask_param=", mask_param_)
                        : detail::cat("FrequencyMasking(freq_mask_param=", mask_param_);
  s += detail::cat(", iid_masks=", iid_ ? "True" : "False");
  if (time_) s += detail::cat(", p=", p_);
  s += mask_value_ ? detail::cat(", mask_value=", *mask_value_) : std::string(", mask_value='mean'");
  return s + ")";
}

}  // namespace tessel::audio
