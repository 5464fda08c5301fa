// Windows, STFT/ISTFT and mel/MFCC features, written with tessel ops so that
// they run on any device and differentiate. Filterbanks and DCT bases are
// computed in float64 and cast once.
#include <cmath>
#include <numbers>
#include <vector>

#include "src/data/audio/dsp_util.h"
#include "tessel/data/audio.h"
#include "tessel/autograd.h"
#include "tessel/fft.h"
#include "tessel/nn/functional.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel::audio {
namespace {

constexpr double kPi = std::numbers::pi;


Tensor from_doubles(const std::vector<double>& v, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, DType::Float64);
  std::copy(v.begin(), v.end(), t.data<double>());
  return t.to(dtype);
}

struct Framing {
  int64_t n_fft, hop, win_length;
  Tensor window;  // [n_fft]: the window zero-padded and centred
};

Framing framing(const char* op, const StftOptions& o, DType dtype) {
  TS_CHECK(o.n_fft > 0, ValueError, op, "n_fft must be positive, got ", o.n_fft);
  const int64_t win = o.win_length.value_or(o.n_fft);
  TS_CHECK(win > 0 && win <= o.n_fft, ValueError, op, "win_length must be in [1, n_fft=", o.n_fft, "], got ", win);
  const int64_t hop = o.hop_length.value_or(std::max<int64_t>(win / 4, 1));
  TS_CHECK(hop > 0, ValueError, op, "hop_length must be positive, got ", hop);
  Tensor w = o.window.defined() ? o.window : window("hann", win, true, 12.0, dtype);
  TS_CHECK(w.dim() == 1 && w.size(0) == win, ValueError, op, "window must be 1-D of win_length=", win,
           " samples, got shape ", w.shape());
  w = w.to(dtype);
  if (win < o.n_fft) {
    const int64_t left = (o.n_fft - win) / 2;
    w = pad(w, {left, o.n_fft - win - left});
  }
  return {o.n_fft, hop, win, w};
}

Tensor as_signal(const char* op, const Tensor& x) {
  TS_CHECK(x.dim() >= 1, ValueError, op, "expects a signal [..., samples], got a 0-d tensor");
  TS_CHECK(!is_complex(x.dtype()) && x.dtype() != DType::Bool, TypeError, op, "expects a real signal, got ",
           x.dtype());
  return x.dtype() == DType::Float64 ? x : x.to(DType::Float32);
}

// Checks the padding and signal length; returns the number of frames.
int64_t frame_count(const char* op, const Tensor& x, const StftOptions& o, const Framing& f) {
  const int64_t n = x.size(-1), p = o.center ? f.n_fft / 2 : 0;
  if (o.center) {
    TS_CHECK(o.pad_mode == "reflect" || o.pad_mode == "constant" || o.pad_mode == "replicate", ValueError, op,
             "pad_mode must be \"reflect\", \"constant\" or \"replicate\", got \"", o.pad_mode, "\"");
    TS_CHECK(o.pad_mode != "reflect" || n > p, ValueError, op, "reflect padding of ", p,
             " samples needs a signal longer than that, got ", n, " samples");
  }
  TS_CHECK(n + 2 * p >= f.n_fft, ValueError, op, "the signal has ", n, " samples",
           o.center ? " (after centre padding " : "", o.center ? std::to_string(n + 2 * p) : std::string(),
           o.center ? ")" : "", ", fewer than n_fft=", f.n_fft);
  return 1 + (n + 2 * p - f.n_fft) / f.hop;
}

// Windowed frames [..., frames, n_fft] of the (centre-padded) signal.
Tensor frames(const char* op, const Tensor& signal, const StftOptions& o, const Framing& f) {
  frame_count(op, signal, o, f);
  Tensor x = signal;
  if (o.center) {
    const int64_t p = f.n_fft / 2;
    // pad() works on batched signals: give 1-d input a batch dim for it.
    const bool one_d = x.dim() == 1;
    Tensor y = one_d ? x.unsqueeze(0) : x;
    y = pad(y, {p, p}, o.pad_mode);
    x = one_d ? y.squeeze(0) : y;
  }
  return mul(x.unfold(-1, f.n_fft, f.hop), f.window);
}

// Power of (re, im) pairs [..., 2] -> [...]: re^2 + im^2, or its power / 2.
// Where a bin is exactly 0 (a frame of digital silence) the gradient is 0, as
// torchaudio's |z| (sgn(0) = 0): sqrt or pow of 0 would give 0 * inf = NaN, so
// those entries take the root of 1 instead and are masked to 0 afterwards.
Tensor pair_power(const Tensor& y, double power) {
  Tensor p = sum(square(y), {-1});
  if (power == 2.0) return p;
  if (!autograd::needs_grad(p)) return power == 1.0 ? sqrt(p) : tessel::pow(p, Scalar(power / 2.0));
  const Tensor live = gt(p, Scalar(0.0));
  const Tensor safe = where(live, p, Scalar(1.0));
  return where(live, power == 1.0 ? sqrt(safe) : tessel::pow(safe, Scalar(power / 2.0)), Scalar(0.0));
}

// |rfft(frames)|^power [..., frames, bins], or with a projection fb [bins, P]
// (mel filters) its product [..., P, frames]: one fused kernel when no gradient
// is needed, else differentiable ops.
Tensor framed_power(const char* op, const Tensor& x, const StftOptions& o, const Framing& f, double power,
                    const Tensor* fb = nullptr) {
  TS_CHECK(power > 0, ValueError, op, "power must be positive, got ", power);
  const int64_t F = frame_count(op, x, o, f);
  static const OpId fused = Registry::get().op_id("stft_power");
  Tensor out;
  // While export traces, the ops below (pad, unfold, rfft, ...) map onto ONNX; the fused kernel does not.
  if (!autograd::needs_grad(x, f.window) && !trace::active() && Registry::get().has(fused, x.device().type, x.dtype())) {
    const int64_t N = x.size(-1), bins = f.n_fft / 2 + 1;
    const Tensor rows = x.reshape({-1, N}).contiguous(), win = f.window.contiguous();
    Shape flat{rows.size(0), F, bins};
    if (fb) flat = {rows.size(0), fb->size(1), F};
    Tensor y = empty(flat, TensorOptions(x.dtype(), x.device()));
    fft::StftPowerParams p;
    p.hop = f.hop;
    p.pad = o.center ? f.n_fft / 2 : 0;
    p.pad_mode = o.pad_mode == "constant" ? 0 : o.pad_mode == "reflect" ? 1 : 2;
    p.power = power;
    if (y.numel() > 0) {
      const Tensor in[3] = {rows, win, fb ? fb->contiguous() : Tensor()};
      dispatch(fused, x.dtype(), std::span<const Tensor>(in, fb ? 3 : 2), {&y, 1}, &p);
    }
    Shape shape(x.shape().begin(), x.shape().end() - 1);
    shape.insert(shape.end(), flat.begin() + 1, flat.end());
    out = y.reshape(shape);
  } else {
    out = pair_power(fft::rfft_real(frames(op, x, o, f)), power);
    if (fb) out = matmul(out, *fb).transpose(-2, -1);
  }
  if (o.normalized) out = div(out, tessel::pow(sum(square(f.window)), Scalar(power / 2)));
  return out;
}

}  // namespace

Tensor window(const std::string& name, int64_t length, bool periodic, double beta, DType dtype) {
  TS_CHECK(length >= 0, ValueError, "audio.window", "length must be non-negative, got ", length);
  TS_CHECK(is_floating(dtype), TypeError, "audio.window", "dtype must be floating, got ", dtype);
  std::vector<double> w(static_cast<size_t>(length), 1.0);
  const int64_t N = periodic ? length + 1 : length;  // periodic: the symmetric window one longer, cut
  const double d = N > 1 ? double(N - 1) : 1.0;
  for (int64_t i = 0; i < length && length > 1; ++i) {
    const double a = 2 * kPi * double(i) / d;
    if (name == "hann")
      w[i] = 0.5 - 0.5 * std::cos(a);
    else if (name == "hamming")
      w[i] = 0.54 - 0.46 * std::cos(a);
    else if (name == "blackman")
      w[i] = 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a);
    else if (name == "bartlett")
      w[i] = 1.0 - std::abs(2.0 * double(i) / d - 1.0);
    else if (name == "kaiser") {
      const double r = 2.0 * double(i) / d - 1.0;
      w[i] = detail::bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / detail::bessel_i0(beta);
    } else if (name != "rectangular" && name != "boxcar" && name != "ones")
      fail<ValueError>("audio.window", "unknown window \"", name,
                       "\" (hann, hamming, blackman, bartlett, kaiser, rectangular)");
  }
  return from_doubles(w, {length}, dtype);
}

Tensor stft(const Tensor& input, const StftOptions& o, bool return_complex) {
  const Tensor x = as_signal("audio.stft", input);
  const Framing f = framing("audio.stft", o, x.dtype());
  Tensor y = fft::rfft_real(frames("audio.stft", x, o, f));  // [..., frames, bins, 2]
  if (o.normalized) y = div(y, sqrt(sum(square(f.window))));
  y = y.transpose(-3, -2);  // [..., bins, frames, 2]
  if (!o.onesided) {  // bins n_fft / 2 + 1 .. n_fft - 1 are conj(X[n_fft - k]): mirrored, imaginary parts negated
    const int64_t bins = y.size(-3), rest = f.n_fft - bins;
    const Tensor conj_sign = from_doubles({1.0, -1.0}, {2}, y.dtype());
    y = cat({y, mul(flip(y.narrow(-3, 1, rest), {-3}), conj_sign)}, -3);
  }
  if (!return_complex) return y;
  return view_as_complex(y);
}

Tensor istft(const Tensor& spec, const StftOptions& o, std::optional<int64_t> length) {
  const char* op = "audio.istft";
  Tensor s = is_complex(spec.dtype()) ? view_as_real(spec) : spec;
  TS_CHECK(s.dim() >= 3 && s.size(-1) == 2, ValueError, op,
           "expects a complex [..., bins, frames] or real [..., bins, frames, 2] spectrogram, got shape ",
           spec.shape(), " of ", spec.dtype());
  s = s.dtype() == DType::Float64 ? s : s.to(DType::Float32);
  const Framing f = framing(op, o, s.dtype());
  if (!o.onesided) {  // a two-sided spectrum of a real signal: its first half says it all
    TS_CHECK(s.size(-3) == f.n_fft, ValueError, op, "expects n_fft=", f.n_fft, " bins when onesided is false, got ",
             s.size(-3));
    s = s.narrow(-3, 0, f.n_fft / 2 + 1);
  }
  const int64_t bins = s.size(-3), T = s.size(-2);
  TS_CHECK(bins == f.n_fft / 2 + 1, ValueError, op, "expects n_fft / 2 + 1 = ", f.n_fft / 2 + 1,
           " frequency bins for n_fft=", f.n_fft, ", got ", bins);
  TS_CHECK(T >= 1, ValueError, op, "expects at least one frame");
  Tensor fr = fft::irfft_real(s.transpose(-3, -2), f.n_fft);  // [..., frames, n_fft]
  if (o.normalized) fr = mul(fr, sqrt(sum(square(f.window))));
  fr = mul(fr, f.window);
  // Overlap-add frames and the squared window at t * hop, then divide.
  const int64_t L = f.n_fft + f.hop * (T - 1);
  const Tensor idx = add(mul(arange(Scalar(int64_t(0)), Scalar(T), Scalar(int64_t(1)), DType::Int64), Scalar(f.hop))
                             .unsqueeze(1),
                         arange(Scalar(int64_t(0)), Scalar(f.n_fft), Scalar(int64_t(1)), DType::Int64))
                         .reshape({-1});
  Shape lead(fr.shape().begin(), fr.shape().end() - 2), out_shape = lead;
  out_shape.push_back(L);
  Shape flat = lead;
  flat.push_back(T * f.n_fft);
  Tensor y = index_add(zeros(out_shape, TensorOptions(fr.dtype())), -1, idx, fr.reshape(flat));
  Tensor env = index_add(zeros({L}, TensorOptions(fr.dtype())), 0, idx,
                         square(f.window).unsqueeze(0).expand({T, f.n_fft}).reshape({-1}));
  const int64_t start = o.center ? f.n_fft / 2 : 0;
  int64_t end = o.center ? L - f.n_fft / 2 : L;
  if (length) {
    TS_CHECK(*length >= 0, ValueError, op, "length must be non-negative, got ", *length);
    end = start + *length;
  }
  const int64_t stop = std::min(end, L);
  TS_CHECK(stop >= start, ValueError, op, "the frames hold no samples past the centre padding");
  Tensor e = env.narrow(0, start, stop - start);
  TS_CHECK(stop == start || amin(e).item<double>() > 1e-11, ValueError, op,
           "the window's overlap-add is zero somewhere (the NOLA condition fails): n_fft=", f.n_fft,
           ", hop_length=", f.hop, ", win_length=", f.win_length);
  y = div(y.narrow(-1, start, stop - start), e);
  if (end > stop) y = pad(y.dim() == 1 ? y.unsqueeze(0) : y, {0, end - stop});
  if (end > stop && lead.empty()) y = y.squeeze(0);
  return y;
}

Tensor spectrogram(const Tensor& input, const StftOptions& o, double power) {
  const Tensor x = as_signal("audio.spectrogram", input);
  const Framing f = framing("audio.spectrogram", o, x.dtype());
  return framed_power("audio.spectrogram", x, o, f, power).transpose(-2, -1);
}

// ---- mel ----

double hz_to_mel(double hz, const std::string& scale) {
  if (scale == "htk") return 2595.0 * std::log10(1.0 + hz / 700.0);
  TS_CHECK(scale == "slaney", ValueError, "audio.hz_to_mel", "mel_scale must be \"htk\" or \"slaney\", got \"",
           scale, "\"");
  constexpr double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return hz >= min_log_hz ? min_log_mel + std::log(hz / min_log_hz) / logstep : hz / f_sp;
}

double mel_to_hz(double mel, const std::string& scale) {
  if (scale == "htk") return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  TS_CHECK(scale == "slaney", ValueError, "audio.mel_to_hz", "mel_scale must be \"htk\" or \"slaney\", got \"",
           scale, "\"");
  constexpr double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return mel >= min_log_mel ? min_log_hz * std::exp(logstep * (mel - min_log_mel)) : f_sp * mel;
}

Tensor mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels, int64_t sample_rate,
                      const std::string& norm, const std::string& mel_scale, DType dtype,
                      std::optional<int64_t> n_fft) {
  const char* op = "audio.mel_filterbank";
  TS_CHECK(n_freqs > 0 && n_mels > 0 && sample_rate > 0, ValueError, op,
           "n_freqs, n_mels and sample_rate must be positive, got ", n_freqs, ", ", n_mels, ", ", sample_rate);
  TS_CHECK(0 <= f_min && f_min < f_max, ValueError, op, "needs 0 <= f_min < f_max, got f_min=", f_min,
           ", f_max=", f_max);
  TS_CHECK(norm == "none" || norm == "slaney" || norm.empty(), ValueError, op,
           "norm must be \"none\" or \"slaney\", got \"", norm, "\"");
  TS_CHECK(!n_fft || *n_fft > 0, ValueError, op, "n_fft must be positive, got ", n_fft.value_or(0));
  // n_freqs * n_mels sizes the table: an overflowed product allocated a small one and wrote past it.
  int64_t rows = 0, cells = 0;
  TS_CHECK(!__builtin_add_overflow(n_mels, 2, &rows) && !__builtin_mul_overflow(n_freqs, rows, &cells), ValueError, op, "n_freqs=", n_freqs,
           " times n_mels=", n_mels, " overflows int64");
  const double m_lo = hz_to_mel(f_min, mel_scale), m_hi = hz_to_mel(f_max, mel_scale);
  std::vector<double> f_pts(static_cast<size_t>(n_mels + 2));
  for (int64_t i = 0; i < n_mels + 2; ++i)
    f_pts[i] = mel_to_hz(m_lo + (m_hi - m_lo) * double(i) / double(n_mels + 1), mel_scale);
  std::vector<double> fb(static_cast<size_t>(n_freqs * n_mels));
  const double nyquist = double(sample_rate) / 2;
  for (int64_t k = 0; k < n_freqs; ++k) {
    const double f = n_fft             ? double(sample_rate) * double(k) / double(*n_fft)
                     : n_freqs > 1 ? nyquist * double(k) / double(n_freqs - 1)
                                   : 0.0;
    for (int64_t m = 0; m < n_mels; ++m) {
      const double down = (f - f_pts[m]) / (f_pts[m + 1] - f_pts[m]);
      const double up = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
      double w = std::max(0.0, std::min(down, up));
      if (norm == "slaney") w *= 2.0 / (f_pts[m + 2] - f_pts[m]);
      fb[k * n_mels + m] = w;
    }
  }
  return from_doubles(fb, {n_freqs, n_mels}, dtype);
}

MelOptions MelOptions::preset(const std::string& name, int64_t sample_rate) {
  MelOptions o;
  o.sample_rate = sample_rate;
  if (name == "torchaudio") {  // torchaudio.transforms.MelSpectrogram
    o.stft.n_fft = 400;
    o.hop_divisor = 2;  // hop_length unset: win_length // 2, following an overridden n_fft or win_length
    o.stft.pad_mode = "reflect";
  } else if (name == "librosa") {  // librosa.feature.melspectrogram: hop_length=512 whatever n_fft is
    o.stft.n_fft = 2048;
    o.stft.hop_length = 512;
    o.rfft_freqs = true;
    o.stft.pad_mode = "constant";
    o.norm = "slaney";
    o.mel_scale = "slaney";
  } else {
    fail<ValueError>("audio.MelOptions", "unknown preset \"", name, "\" (\"torchaudio\" or \"librosa\")");
  }
  return o;
}

Tensor mel_spectrogram(const Tensor& input, const MelOptions& o) {
  const char* op = "audio.mel_spectrogram";
  const Tensor x = as_signal(op, input);
  TS_CHECK(o.hop_divisor > 0, ValueError, op, "hop_divisor must be positive, got ", o.hop_divisor);
  StftOptions so = o.stft;
  if (!so.hop_length) so.hop_length = std::max<int64_t>(so.win_length.value_or(so.n_fft) / o.hop_divisor, 1);
  const Framing f = framing(op, so, x.dtype());
  const Tensor fb =
      mel_filterbank(f.n_fft / 2 + 1, o.f_min, o.f_max.value_or(double(o.sample_rate) / 2), o.n_mels, o.sample_rate,
                     o.norm, o.mel_scale, x.dtype(), o.rfft_freqs ? std::optional<int64_t>(f.n_fft) : std::nullopt);
  return framed_power(op, x, so, f, o.power, &fb);  // [..., mels, frames]
}

Tensor amplitude_to_db(const Tensor& x, double multiplier, double amin, double ref, std::optional<double> top_db) {
  const char* op = "audio.amplitude_to_db";
  TS_CHECK(amin > 0, ValueError, op, "amin must be positive, got ", amin);
  TS_CHECK(!top_db || *top_db >= 0, ValueError, op, "top_db must be non-negative, got ", *top_db);
  TS_CHECK(is_floating(x.dtype()), TypeError, op, "expects a floating tensor, got ", x.dtype());
  Tensor db = mul(log10(clamp(x, Scalar(amin), std::nullopt)), Scalar(multiplier));
  db = sub(db, Scalar(multiplier * std::log10(std::max(amin, ref))));
  if (top_db && x.numel() > 0) {
    Shape dims;
    for (int64_t d = std::max<int64_t>(0, x.dim() - 3); d < x.dim(); ++d) dims.push_back(d);
    db = maximum(db, sub(amax(db, dims, true), Scalar(*top_db)));  // the floor moves with the maximum (torchaudio)
  }
  return db;
}

Tensor dct_matrix(int64_t n_mfcc, int64_t n_mels, const std::string& norm, DType dtype) {
  const char* op = "audio.dct_matrix";
  TS_CHECK(n_mfcc > 0 && n_mels > 0, ValueError, op, "n_mfcc and n_mels must be positive, got ", n_mfcc, ", ",
           n_mels);
  TS_CHECK(norm == "ortho" || norm == "none" || norm.empty(), ValueError, op,
           "norm must be \"ortho\" or \"none\", got \"", norm, "\"");
  std::vector<double> d(static_cast<size_t>(n_mels * n_mfcc));
  for (int64_t n = 0; n < n_mels; ++n)
    for (int64_t k = 0; k < n_mfcc; ++k) {
      double v = std::cos(kPi / double(n_mels) * (double(n) + 0.5) * double(k));
      if (norm == "ortho") v *= (k == 0 ? std::sqrt(1.0 / double(n_mels)) : std::sqrt(2.0 / double(n_mels)));
      else v *= 2.0;
      d[n * n_mfcc + k] = v;
    }
  return from_doubles(d, {n_mels, n_mfcc}, dtype);
}

MfccOptions MfccOptions::preset(const std::string& name, int64_t sample_rate) {
  MfccOptions o;
  o.mel = MelOptions::preset(name, sample_rate);
  o.n_mfcc = name == "librosa" ? 20 : 40;
  return o;
}

Tensor mfcc(const Tensor& input, const MfccOptions& o) {
  const char* op = "audio.mfcc";
  TS_CHECK(o.n_mfcc <= o.mel.n_mels, ValueError, op, "n_mfcc=", o.n_mfcc, " must not exceed n_mels=",
           o.mel.n_mels);
  Tensor mel = mel_spectrogram(input, o.mel);
  mel = o.log_mels ? log(add(mel, Scalar(1e-6))) : amplitude_to_db(mel, 10.0, 1e-10, 1.0, o.top_db);
  const Tensor basis = dct_matrix(o.n_mfcc, o.mel.n_mels, o.dct_norm, mel.dtype());
  return matmul(mel.transpose(-2, -1), basis).transpose(-2, -1);
}

}  // namespace tessel::audio
