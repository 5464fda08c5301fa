// Windowed-sinc resampling, the algorithm of torchaudio.functional.resample:
// reduce the rates by their gcd, build one filter per output phase, and run
// them as a strided conv1d over the zero-padded signal.
#include <cmath>
#include <numbers>
#include <numeric>
#include <vector>

#include "src/data/audio/dsp_util.h"
#include "tessel/data/audio.h"
#include "tessel/nn/functional.h"
#include "tessel/ops.h"

namespace tessel::audio {
namespace {

constexpr double kDefaultBeta = 14.769656459379492;


}  // namespace

ResampleOptions ResampleOptions::quality(const std::string& name) {
  ResampleOptions o;
  if (name == "default") return o;
  if (name == "kaiser_best") {
    o.lowpass_filter_width = 64;
    o.rolloff = 0.9475937167399596;
    o.method = "sinc_interp_kaiser";
    o.beta = kDefaultBeta;
    return o;
  }
  if (name == "kaiser_fast") {
    o.lowpass_filter_width = 16;
    o.rolloff = 0.85;
    o.method = "sinc_interp_kaiser";
    o.beta = 8.555504641634386;
    return o;
  }
  fail<ValueError>("audio.resample", "unknown quality \"", name, "\" (default, kaiser_best, kaiser_fast)");
}

Tensor resample(const Tensor& input, int64_t orig_freq, int64_t new_freq, const ResampleOptions& o) {
  const char* op = "audio.resample";
  TS_CHECK(orig_freq > 0 && new_freq > 0, ValueError, op, "frequencies must be positive, got orig_freq=", orig_freq,
           ", new_freq=", new_freq);
  TS_CHECK(o.lowpass_filter_width > 0, ValueError, op, "lowpass_filter_width must be positive, got ",
           o.lowpass_filter_width);
  TS_CHECK(o.rolloff > 0 && o.rolloff <= 1, ValueError, op, "rolloff must be in (0, 1], got ", o.rolloff);
  TS_CHECK(o.method == "sinc_interp_hann" || o.method == "sinc_interp_kaiser", ValueError, op,
           "method must be \"sinc_interp_hann\" or \"sinc_interp_kaiser\", got \"", o.method, "\"");
  TS_CHECK(input.dim() >= 1, ValueError, op, "expects a signal [..., samples], got a 0-d tensor");
  TS_CHECK(!is_complex(input.dtype()) && input.dtype() != DType::Bool, TypeError, op,
           "expects a real signal, got ", input.dtype());
  const Tensor x = input.dtype() == DType::Float64 ? input : input.to(DType::Float32);
  if (orig_freq == new_freq) return x;
  const int64_t g = std::gcd(orig_freq, new_freq), orig = orig_freq / g, nu = new_freq / g;

  // One filter per output phase i: taps at t = (j - width) / orig - i / new (in input periods).
  const double base = double(std::min(orig, nu)) * o.rolloff;
  const double lpw = double(o.lowpass_filter_width);
  const int64_t width = static_cast<int64_t>(std::ceil(lpw * double(orig) / base));
  const int64_t taps = 2 * width + orig;
  const double beta = o.beta.value_or(kDefaultBeta), i0_beta = detail::bessel_i0(beta);
  std::vector<double> k(static_cast<size_t>(nu * taps));
  for (int64_t i = 0; i < nu; ++i)
    for (int64_t j = 0; j < taps; ++j) {
      double t = (-double(i) / double(nu) + double(j - width) / double(orig)) * base;
      t = std::clamp(t, -lpw, lpw);
      double w;
      if (o.method == "sinc_interp_hann") {
        const double c = std::cos(t * std::numbers::pi / lpw / 2);
        w = c * c;
      } else {
        const double r = t / lpw;
        w = detail::bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
      }
      t *= std::numbers::pi;
      k[i * taps + j] = (t == 0.0 ? 1.0 : std::sin(t) / t) * w * base / double(orig);
    }
  Tensor kernel = empty({nu, 1, taps}, DType::Float64);
  std::copy(k.begin(), k.end(), kernel.data<double>());
  kernel = kernel.to(x.dtype());

  const Shape lead(x.shape().begin(), x.shape().end() - 1);
  const int64_t length = x.size(-1);
  Tensor flat = x.reshape({-1, 1, length});
  flat = pad(flat, {width, width + orig});
  nn::functional::ConvOptions co;
  co.stride = {orig};
  Tensor y = nn::functional::conv1d(flat, kernel, {}, co);  // [rows, new, blocks]
  const int64_t rows = flat.size(0);
  y = y.transpose(1, 2).reshape({rows, -1});
  // torchaudio: ceil(as_tensor(new * length / orig)) narrows the quotient to float32 first.
  const double q = double(nu) * double(length) / double(orig);
  const int64_t target = static_cast<int64_t>(o.exact_length ? std::ceil(q) : std::ceil(double(float(q))));
  y = y.narrow(1, 0, std::min(target, y.size(1)));
  Shape out = lead;
  out.push_back(y.size(1));
  return y.reshape(out);
}

}  // namespace tessel::audio
