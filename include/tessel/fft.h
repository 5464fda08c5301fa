#pragma once
// Discrete Fourier transforms (src/ops/spectral.cpp), with
// numpy.fft / torch.fft conventions. norm: "backward" (no scaling forward, 1/n
// on the inverse; the default), "ortho" (1/sqrt(n) both ways) or "forward".
#include <optional>
#include <string>

#include "tessel/tensor.h"

namespace tessel::fft {

// Half spectrum of a real signal along `dim`: n / 2 + 1 complex bins. n
// defaults to the size of `dim`; a shorter input is zero-padded, a longer one
// cut. Complex tensors cannot carry gradients: use rfft_real to differentiate.
// Results that are real (irfft, irfftn, hfft of a real input) differentiate.
TESSEL_API Tensor rfft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                       const std::string& norm = "backward");
// The real signal of length n (default 2 * (bins - 1)) with half spectrum X
// along `dim` (complex, or real: imaginary parts zero).
TESSEL_API Tensor irfft(const Tensor& X, std::optional<int64_t> n = {}, int64_t dim = -1,
                        const std::string& norm = "backward");

// Complex transforms along `dim` (numpy.fft.fft / ifft): real or complex input,
// complex result of length n (default the size of `dim`; shorter input is
// zero-padded, longer cut). Real inputs and halves/integers compute as
// complex64, float64 as complex128.
TESSEL_API Tensor fft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                      const std::string& norm = "backward");
TESSEL_API Tensor ifft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                       const std::string& norm = "backward");
// Hermitian pair: hfft(x) = irfft(conj(x)) and ihfft(x) = conj(rfft(x)), with
// the norm's direction swapped (numpy.fft.hfft / ihfft). hfft's n defaults to
// 2 * (size - 1).
TESSEL_API Tensor hfft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                       const std::string& norm = "backward");
TESSEL_API Tensor ihfft(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                        const std::string& norm = "backward");
// n-d transforms over `dim` (default: the last s.size() dims, or all), with
// output sizes s (-1: keep the input's; for irfftn's last dim 2 * (size - 1)).
// rfftn halves the last of `dim`; irfftn inverts that.
TESSEL_API Tensor fftn(const Tensor& x, std::optional<Shape> s = {}, std::optional<Shape> dim = {},
                       const std::string& norm = "backward");
TESSEL_API Tensor ifftn(const Tensor& x, std::optional<Shape> s = {}, std::optional<Shape> dim = {},
                        const std::string& norm = "backward");
TESSEL_API Tensor rfftn(const Tensor& x, std::optional<Shape> s = {}, std::optional<Shape> dim = {},
                        const std::string& norm = "backward");
TESSEL_API Tensor irfftn(const Tensor& x, std::optional<Shape> s = {}, std::optional<Shape> dim = {},
                         const std::string& norm = "backward");

// fft / ifft on complex numbers stored as a trailing (re, im) dim of 2 of a
// real tensor ([..., 2] -> [..., 2]; `dim` counts the dims before the pair).
// Differentiable to any order: complex tensors cannot carry gradients.
TESSEL_API Tensor fft_real(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                           const std::string& norm = "backward");
TESSEL_API Tensor ifft_real(const Tensor& x, std::optional<int64_t> n = {}, int64_t dim = -1,
                            const std::string& norm = "backward");

// The real transforms on real tensors, along the last dim, with the complex
// bins as a trailing (re, im) dim of 2: [..., n] <-> [..., n / 2 + 1, 2].
// Differentiable to any order (each one's gradient is the other).
TESSEL_API Tensor rfft_real(const Tensor& x, std::optional<int64_t> n = {}, const std::string& norm = "backward");
TESSEL_API Tensor irfft_real(const Tensor& X, int64_t n, const std::string& norm = "backward");

// Contract of the fused "stft_power" kernel (kernels/cpu/fft.cpp), used by the
// audio features when no gradient is needed: in[0] signal [B, N] and in[1]
// window [n_fft] (contiguous, float32/float64); out[0] [B, frames, n_fft / 2 + 1]
// with |rfft(window * frame)|^power, frame f starting at f * hop - pad of the
// signal padded by `pad` on both sides (0 constant, 1 reflect, 2 replicate).
// With in[2] = W [n_fft / 2 + 1, P] (e.g. mel filters), out[0] is instead the
// projection power @ W, frames last: [B, P, frames].
struct StftPowerParams {
  int64_t hop = 1;
  int64_t pad = 0;
  int pad_mode = 0;
  double power = 2.0;
};

// Contract of the "fft_c2c" kernel (kernels/cpu/fft.cpp), float32/float64,
// contiguous: in[0] [outer, n_in, inner, 2] (re, im pairs), or [outer, n_in,
// inner] when real_input; out[0] [outer, n, inner, 2] = scale * the length-n
// DFT along dim 1 (e^{-2 pi i jk/n}, or e^{+...} when inverse; no 1/n) of the
// input cut or zero-padded to n.
struct C2cParams {
  bool inverse = false;
  bool real_input = false;
  double scale = 1.0;
};

}  // namespace tessel::fft

namespace tessel {
// complex64 [...] <-> float32 [..., 2] (complex128 <-> float64): views, no copy.
TESSEL_API Tensor view_as_real(const Tensor& z);
TESSEL_API Tensor view_as_complex(const Tensor& x);
// real + i imag (broadcast): complex64 from float32 parts, complex128 from float64.
TESSEL_API Tensor complex(const Tensor& real, const Tensor& imag);
}  // namespace tessel
