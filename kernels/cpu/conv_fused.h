#pragma once
// Convolution with oneDNN post-ops, for the ONNX runtime's fused nodes
// (src/onnx/passes_fused.cpp): y = act(conv(x, w) + b [+ residual]), the sum
// and the activation applied while the output tile is still in cache.
#include <memory>

#include "tessel/kernel.h"
#include "tessel/tensor.h"

namespace tessel::cpu {

// What one call site (an ONNX node) keeps between its calls: the primitive,
// the weight in the primitive's layout, the reorder primitives and the oneDNN
// memory objects of the last operand shapes, so that a repeated call only
// swaps data pointers (no cache lookups, no descriptor or memory creation).
// A site serves one call at a time: a concurrent call that finds it busy takes
// the shared caches instead, with the same result.
struct ConvSite;
std::shared_ptr<ConvSite> make_conv_site();

enum class ConvAct : int { none = 0, relu, clip, sigmoid, leaky_relu };

struct ConvPost {
  ConvAct act = ConvAct::none;
  float alpha = 0, beta = 0;  // clip: [alpha, beta]; leaky_relu: slope alpha
};

// Whether conv2d_fused takes these operands: float32 CPU tensors, x [N,C,H,W],
// w [O, C/groups, kh, kw]; otherwise callers compose the unfused ops.
bool conv2d_fused_supported(const Tensor& x, const Tensor& w);

// Blocked activations: consecutive convolutions pass their values in oneDNN's
// channel-blocked layout (nChw16c with AVX-512) instead of reordering to NCHW
// and back around each one. Such a tensor has shape [N, ceil(C/b), H, W, b]
// with b = conv_block_size(): channel c of pixel (h, w) at [n, c / b, h, w, c % b],
// the padded channels zero. Only these kernels read it; conv_unblock gives NCHW.
int64_t conv_block_size();  // 16 or 8 on this CPU; 0: no blocked layout here
Tensor conv_unblock(const Tensor& blocked, int64_t channels, ConvSite* site = nullptr);

// 2-D pooling of a blocked activation with `channels` channels (floor output
// sizes; max ignores the padding, avg counts it or not). The result is blocked
// too with out_blocked, else NCHW.
enum class PoolKind : int { max = 0, avg_exclude_pad, avg_include_pad };
struct PoolParams {
  PoolKind kind = PoolKind::max;
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, pad_begin[2] = {0, 0}, pad_end[2] = {0, 0};
};
Tensor pool2d_blocked(const Tensor& blocked, int64_t channels, const PoolParams& p, bool out_blocked,
                      ConvSite* site = nullptr);

// Whether `t` (one handle) is the only user of its buffer: the caller may then
// let conv2d_fused write into it (ConvLayout::reuse_residual). Outputs of these
// kernels come from a pool of reused buffers, which does not count as a user.
bool conv_sole_owner(const Tensor& t);

// Which operands of conv2d_fused are blocked (the input's channel count is then
// w.shape()[1] * groups; the output's is w.shape()[0]).
struct ConvLayout {
  bool x = false, residual = false, y = false;
  // The caller holds the residual's only reference: with residual and y both
  // blocked, the result is written into the residual's buffer (no copy).
  bool reuse_residual = false;
};

// y = act(conv2d(x, w, bias) + residual); bias and residual may be undefined.
// residual has y's shape [N, O, Ho, Wo] (from params and x, w), or its blocked
// shape with layout.residual.
Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual,
                    const ConvParams& p, const ConvPost& post, const ConvLayout& layout = {},
                    ConvSite* site = nullptr);

}  // namespace tessel::cpu
