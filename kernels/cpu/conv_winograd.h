#pragma once
// Winograd F(2x2, 3x3) of our own for the ONNX runtime's blocked 3x3 convolutions on
// AVX2 CPUs (conv_blocked.cpp's conv2d_fused calls it; conv_winograd.cpp). Internal
// to the convolution kernels, not a public header.
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/conv_dnnl.h"
#include "kernels/cpu/conv_fused.h"

namespace tessel::cpu {

// Winograd F(2x2, 3x3) for blocked 3x3 stride-1 convolutions where oneDNN has
// none (its Winograd kernels are AVX-512 only, so on AVX2 CPUs it runs the
// direct jit:avx2 kernel): each 4x4 input tile and each 3x3 filter go to the
// Winograd domain (U = G g G^T, V = B^T d B), the 16 elementwise products summed
// over input channels are 16 GEMMs [tiles x C] x [C x O] (oneDNN's sgemm, or
// our register-blocked kernel below 128 channels: winograd_small), and
// A^T M A gives 2x2 outputs: 2.25x fewer multiplies than the direct kernel.
// Channels are blocked by 8 (nChw8c): one tile row of one channel block is one
// AVX2 register. Errors stay at float32 rounding level (the transforms are
// additions and halvings). TESSEL_ONNX_WINOGRAD=0 turns it off.
struct WinoSlot {
  const void* w_data = nullptr;
  std::weak_ptr<StorageImpl> w_owner;
  int64_t c = 0, o = 0;
  bool rows = false;     // u's layout: [16][Cp][Op] for the small kernel, else [16][Op][Cp]
  std::vector<float> u;  // U_e (Cp, Op: channels padded to 8); [Op][Cp] is transposed, for sgemm's transB
};

// Whether conv2d_fused takes the Winograd path for this convolution (conv_winograd.cpp).
bool winograd_fits(const conv_dnnl::ConvKey& k, const ConvLayout& l, const ConvPost& post);
// The transformed weight U of w [O, C, 3, 3] into s.
void winograd_weights(const Tensor& w, WinoSlot& s);
// y (blocked) = act(conv(x, w) + bias [+ residual]) with s from winograd_weights.
void winograd_conv(const Tensor& x, const WinoSlot& s, const Tensor& bias, const Tensor& residual,
                   const conv_dnnl::ConvKey& k, const ConvPost& post, const Tensor& y);

}  // namespace tessel::cpu
