// ONNX signal ops: DFT (opset 17 and 20 forms: forward, inverse, onesided,
// irfft), STFT, the Hann/Hamming/Blackman windows and MelWeightMatrix.
// Transforms multiply by cos/sin matrices in float64: exact enough for any
// length and independent of the real-only tessel::fft.
#include <cmath>
#include <numbers>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

bool is_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

// A scalar (or one-element) integer input.
int64_t scalar_int(const Node& n, const Tensor& t, const char* what) {
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
    n.error<TypeError>(what, " must be int32 or int64, got ", t.dtype());
  if (t.numel() != 1) n.error(what, " must be a scalar, got shape ", t.shape());
  return t.to(DType::Int64).reshape({}).item<int64_t>();
}

// cos and sin of 2 pi j k / N for j < rows, k < cols, as [rows, cols] float64.
std::pair<Tensor, Tensor> twiddles(int64_t rows, int64_t cols, int64_t N) {
  Tensor c = empty({rows, cols}, DType::Float64), s = empty({rows, cols}, DType::Float64);
  double *pc = c.data<double>(), *ps = s.data<double>();
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t k = 0; k < cols; ++k) {
      const double a = 2.0 * std::numbers::pi * static_cast<double>((j * k) % N) / static_cast<double>(N);
      pc[j * cols + k] = std::cos(a);
      ps[j * cols + k] = std::sin(a);
    }
  return {c, s};
}

// Cuts or zero-pads the last dim to `len`.
Tensor fit(const Tensor& t, int64_t len) {
  const int64_t n = t.shape()[t.dim() - 1];
  if (n >= len) return t.slice(-1, 0, len);
  return pad(t, {0, len - n});
}

// The DFT of x [..., n, 1 | 2] (real or (re, im)) along `axis` with length N:
// [..., N (or N / 2 + 1 onesided), 2], or the real signal [..., N, 1] for an
// inverse onesided (irfft) transform.
Tensor dft(const Node& n, const Tensor& x, int64_t axis, std::optional<int64_t> length, bool inverse, bool onesided) {
  if (!is_float(x.dtype())) n.error<TypeError>("input must be a floating tensor, got ", x.dtype());
  const int64_t r = x.dim();
  if (r < 2 || (x.shape()[r - 1] != 1 && x.shape()[r - 1] != 2))
    n.error("input must be [..., n, 1] (real) or [..., n, 2] (complex), got shape ", x.shape());
  if (axis < -r || axis >= r) n.error("axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  if (axis == r - 1) n.error("axis must not be the last (real/imaginary) dim");
  const int64_t n_in = x.shape()[axis];
  const int64_t N = length ? *length : inverse && onesided ? 2 * (n_in - 1) : n_in;
  if (N < 1) n.error("dft_length must be positive, got ", N);
  const bool complex_in = x.shape()[r - 1] == 2;
  // Signal axis last: [..., n].
  Tensor re = x.select(r - 1, 0).to(DType::Float64).transpose(axis, r - 2);
  Tensor im = complex_in ? x.select(r - 1, 1).to(DType::Float64).transpose(axis, r - 2) : Tensor();
  Tensor yre, yim;
  if (inverse && onesided) {
    // Hermitian extension of the N / 2 + 1 bins, then the inverse transform's real part.
    const int64_t bins = N / 2 + 1;
    re = fit(re, bins);
    im = complex_in ? fit(im, bins) : zeros_like(re);
    auto [c, s] = twiddles(bins, N, N);
    // Bins 1 .. (N - 1) / 2 stand for their mirror images too.
    Tensor w = full({bins, 1}, Scalar(2.0), DType::Float64);
    w.select(0, 0).fill_(1.0);
    if (N % 2 == 0) w.select(0, bins - 1).fill_(1.0);
    yre = div(sub(matmul(re, mul(c, w)), matmul(im, mul(s, w))), Scalar(static_cast<double>(N)));
    Tensor out = yre.transpose(axis, r - 2).unsqueeze(-1);
    return out.contiguous().to(x.dtype());
  }
  const int64_t bins = onesided ? N / 2 + 1 : N;
  re = fit(re, N);
  if (complex_in) im = fit(im, N);
  auto [c, s] = twiddles(N, bins, N);
  if (!inverse) {  // (a + ib)(cos - i sin)
    yre = complex_in ? add(matmul(re, c), matmul(im, s)) : matmul(re, c);
    yim = complex_in ? sub(matmul(im, c), matmul(re, s)) : neg(matmul(re, s));
  } else {  // (a + ib)(cos + i sin) / N
    yre = complex_in ? sub(matmul(re, c), matmul(im, s)) : matmul(re, c);
    yim = complex_in ? add(matmul(im, c), matmul(re, s)) : matmul(re, s);
    yre = div(yre, Scalar(static_cast<double>(N)));
    yim = div(yim, Scalar(static_cast<double>(N)));
  }
  Tensor out = stack({yre, yim}, -1).transpose(axis, r - 2);
  return out.contiguous().to(x.dtype());
}

std::vector<Tensor> dft_op(const Node& n, const Inputs& in, const OpContext& ctx) {
  const Tensor& x = input(n, in, 0);
  std::optional<int64_t> length;
  if (in.size() > 1 && in[1]) length = scalar_int(n, *in[1], "dft_length");
  int64_t axis = ctx.opset >= 20 ? -2 : n.i("axis", 1);
  if (ctx.opset >= 20 && in.size() > 2 && in[2]) axis = scalar_int(n, *in[2], "axis");
  const bool inverse = n.i("inverse", 0) != 0, onesided = n.i("onesided", 0) != 0;
  return {dft(n, x, axis, length, inverse, onesided)};
}

// Frames of signal [B, L, 1 | 2] (frame_step apart, times the window) transformed: [B, frames, bins, 2].
std::vector<Tensor> stft(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (!is_float(x.dtype())) n.error<TypeError>("signal must be a floating tensor, got ", x.dtype());
  if (x.dim() != 3 || (x.shape()[2] != 1 && x.shape()[2] != 2))
    n.error("signal must be [batch, length, 1 or 2], got shape ", x.shape());
  const int64_t step = scalar_int(n, input(n, in, 1), "frame_step");
  if (step < 1) n.error("frame_step must be positive, got ", step);
  const Tensor* window = in.size() > 2 && in[2] ? &*in[2] : nullptr;
  int64_t flen = window ? window->numel() : x.shape()[1];
  if (in.size() > 3 && in[3]) flen = scalar_int(n, *in[3], "frame_length");
  if (window) {
    if (window->dtype() != x.dtype())
      n.error<TypeError>("window has dtype ", window->dtype(), " but signal has ", x.dtype());
    if (window->dim() != 1 || window->numel() != flen) n.error("window must be [frame_length] = [", flen, "], got ", window->shape());
  }
  if (flen < 1 || flen > x.shape()[1]) n.error("frame_length ", flen, " must lie in [1, signal length ", x.shape()[1], "]");
  Tensor frames = x.unfold(1, flen, step).permute({0, 1, 3, 2});  // [B, frames, flen, 1 | 2]
  if (window) frames = mul(frames, window->reshape({flen, 1}));
  return {dft(n, frames, 2, flen, false, n.i("onesided", 1) != 0)};
}

DType float_out(const Node& n) {
  const int64_t t = n.i("output_datatype", 1);
  switch (t) {
    case 1: return DType::Float32;
    case 10: return DType::Float16;
    case 11: return DType::Float64;
    case 16: return DType::BFloat16;
    default: n.error<NotImplementedError>("output_datatype ", t, " is not supported (a floating type)");
  }
}

// w[k] = sum_i coef[i] * cos(2 pi i k / D), D = size (periodic) or size - 1 (symmetric).
OpFn window(std::vector<double> coef) {
  return [coef](const Node& n, const Inputs& in, const OpContext&) {
    const int64_t size = scalar_int(n, input(n, in, 0), "size");
    if (size < 0) n.error("size must be nonnegative, got ", size);
    const double D = static_cast<double>(n.i("periodic", 1) ? size : size - 1);
    Tensor w = empty({size}, DType::Float64);
    double* p = w.data<double>();
    for (int64_t k = 0; k < size; ++k) {
      double v = 0;
      for (size_t i = 0; i < coef.size(); ++i)
        v += coef[i] * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) * static_cast<double>(k) / D);
      p[k] = D == 0 ? 1.0 : v;
    }
    return std::vector<Tensor>{w.to(float_out(n))};
  };
}

// Triangular mel filters [dft_length / 2 + 1, num_mel_bins] on bins placed evenly on the mel scale.
std::vector<Tensor> mel_weight_matrix(const Node& n, const Inputs& in, const OpContext&) {
  const int64_t mels = scalar_int(n, input(n, in, 0), "num_mel_bins");
  const int64_t dft_len = scalar_int(n, input(n, in, 1), "dft_length");
  const int64_t rate = scalar_int(n, input(n, in, 2), "sample_rate");
  auto scalar_f = [&](size_t k, const char* what) {
    const Tensor& t = input(n, in, k);
    if (!is_float(t.dtype()) || t.numel() != 1) n.error<TypeError>(what, " must be a floating scalar");
    return t.to(DType::Float64).reshape({}).item<double>();
  };
  const double lo = scalar_f(3, "lower_edge_hertz"), hi = scalar_f(4, "upper_edge_hertz");
  if (mels < 1 || dft_len < 1 || rate < 1) n.error("num_mel_bins, dft_length and sample_rate must be positive");
  if (lo < 0 || hi <= lo) n.error("need 0 <= lower_edge_hertz < upper_edge_hertz, got ", lo, " and ", hi);
  const int64_t bins = dft_len / 2 + 1;
  auto mel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
  const double mlo = mel(lo), step = (mel(hi) - mlo) / static_cast<double>(mels + 2);  // as onnx's reference spaces them
  std::vector<int64_t> edge(mels + 2);
  for (int64_t i = 0; i < mels + 2; ++i) {
    const double hz = 700.0 * (std::pow(10.0, (mlo + step * static_cast<double>(i)) / 2595.0) - 1.0);
    edge[i] = static_cast<int64_t>(std::floor(static_cast<double>(dft_len + 1) * hz / static_cast<double>(rate)));
    if (edge[i] < 0 || edge[i] >= bins) n.error("the mel edges fall outside the ", bins, " spectrogram bins");
  }
  Tensor out = zeros({bins, mels}, DType::Float64);
  double* p = out.data<double>();
  for (int64_t i = 0; i < mels; ++i) {
    const int64_t l = edge[i], c = edge[i + 1], h = edge[i + 2];
    if (c == l) p[c * mels + i] = 1.0;
    for (int64_t j = l; c > l && j <= c; ++j) p[j * mels + i] = static_cast<double>(j - l) / static_cast<double>(c - l);
    for (int64_t j = c; j < h; ++j) p[j * mels + i] = static_cast<double>(h - j) / static_cast<double>(h - c);
  }
  return {out.to(float_out(n))};
}

}  // namespace

void register_signal_ops(std::map<std::string, OpFn>& t) {
  t["DFT"] = dft_op;
  t["STFT"] = stft;
  t["HannWindow"] = window({0.5, -0.5});
  t["HammingWindow"] = window({25.0 / 46.0, -21.0 / 46.0});
  t["BlackmanWindow"] = window({0.42, -0.5, 0.08});
  t["MelWeightMatrix"] = mel_weight_matrix;
}

}  // namespace tessel::onnx
