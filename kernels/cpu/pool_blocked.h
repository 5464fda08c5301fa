#pragma once
// Max and average pooling, and depthwise convolution, over channel-blocked
// activations [n, c/b, h, w, b]
// (conv_blocked.cpp's pool2d_blocked), ours rather than oneDNN's: its jit max
// pool took 0.375 ms on ResNet-50's stem (64 channels, 112x112, 3x3 stride 2,
// batch 1) against onnxruntime's 0.22. One body (pool_blocked_body.inc) built
// once per block width with that ISA's flags: b = 16 with AVX-512, 8 with AVX2
// (what conv_block_size() picks); called only after that check.
#include <cstdint>

#include "kernels/cpu/conv_fused.h"

namespace tessel::cpu {

struct PoolGeom {
  int64_t h, w, ho, wo, kernel[2], stride[2], pad[2];  // pad: the leading pads (the trailing ones only clip)
  PoolKind kind;
};

// Output rows [oh0, oh1) of one plane: x [h, w, b] -> y [ho, wo, b].
void pool_blocked_rows_avx512(const float* x, float* y, const PoolGeom& g, int64_t oh0, int64_t oh1);
void pool_blocked_rows_avx2(const float* x, float* y, const PoolGeom& g, int64_t oh0, int64_t oh1);

// Depthwise convolution (conv_blocked.cpp's depthwise path), output rows [oh0, oh1)
// of one channel block: x [h, w, b], weights [kh * kw, b], bias [b] -> y [ho, wo, b],
// then post.act (none, relu, clip or leaky_relu). g.kind is unused.
void dw_blocked_rows_avx512(const float* x, const float* w, const float* bias, float* y, const PoolGeom& g,
                            const ConvPost& post, int64_t oh0, int64_t oh1);
void dw_blocked_rows_avx2(const float* x, const float* w, const float* bias, float* y, const PoolGeom& g,
                          const ConvPost& post, int64_t oh0, int64_t oh1);

}  // namespace tessel::cpu
