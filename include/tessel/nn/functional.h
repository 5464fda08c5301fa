#pragma once
// Neural-network ops (src/nn/): convolution, pooling, normalization,
// embedding, attention and losses. All are differentiable; names and
// arguments follow torch.nn.functional.
#include <optional>
#include <string>
#include <vector>

#include "tessel/ops.h"

namespace tessel::nn::functional {

using OptTensor = std::optional<Tensor>;

// ---- convolution (src/nn/conv.cpp) ----
// Per-dim arguments take one value for all dims or one per spatial dim.
struct ConvOptions {
  Shape stride{1};
  Shape padding{0};     // ignored when padding_mode is "same" or "valid"
  Shape dilation{1};
  int64_t groups = 1;
  std::string padding_mode;  // "" (use padding), "same" or "valid"
};
// input [N, C, L] (or [C, L]), weight [O, C / groups, K].
TESSEL_API Tensor conv1d(const Tensor& input, const Tensor& weight, const OptTensor& bias = {},
                         const ConvOptions& opts = {});
// input [N, C, H, W] (or [C, H, W]), weight [O, C / groups, kH, kW].
TESSEL_API Tensor conv2d(const Tensor& input, const Tensor& weight, const OptTensor& bias = {},
                         const ConvOptions& opts = {});
// weight [C, O / groups, kH, kW]; output_padding adds rows/cols on one side.
TESSEL_API Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const OptTensor& bias = {},
                                   const Shape& stride = {1}, const Shape& padding = {0},
                                   const Shape& output_padding = {0}, int64_t groups = 1,
                                   const Shape& dilation = {1});

// ---- pooling (src/nn/pool.cpp); stride defaults to the kernel size ----
TESSEL_API Tensor max_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride = {},
                             const Shape& padding = {0}, const Shape& dilation = {1}, bool ceil_mode = false);
// Values and flat indices into each input plane (h * W + w), as PyTorch returns them.
TESSEL_API std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const Shape& kernel_size,
                                                              const Shape& stride = {}, const Shape& padding = {0},
                                                              const Shape& dilation = {1}, bool ceil_mode = false);
TESSEL_API Tensor avg_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride = {},
                             const Shape& padding = {0}, bool ceil_mode = false, bool count_include_pad = true,
                             std::optional<int64_t> divisor_override = {});
TESSEL_API Tensor adaptive_avg_pool2d(const Tensor& input, const Shape& output_size);

// ---- normalization (src/nn/norm.cpp) ----
// training: normalizes with batch statistics and updates the running ones in
// place (unbiased variance), as PyTorch does; otherwise uses the running ones.
TESSEL_API Tensor batch_norm(const Tensor& input, const OptTensor& running_mean, const OptTensor& running_var,
                             const OptTensor& weight = {}, const OptTensor& bias = {}, bool training = false,
                             double momentum = 0.1, double eps = 1e-5);
TESSEL_API Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const OptTensor& weight = {},
                             const OptTensor& bias = {}, double eps = 1e-5);
TESSEL_API Tensor group_norm(const Tensor& input, int64_t num_groups, const OptTensor& weight = {},
                             const OptTensor& bias = {}, double eps = 1e-5);

// ---- embedding and attention (src/nn/functional.cpp) ----
// Rows of weight picked by integer indices; the padding_idx row gets no gradient.
TESSEL_API Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx = {});
// softmax(q k^T * scale + mask) v over the last two dims; a bool mask keeps
// True entries, a float mask is added; is_causal masks future positions.
TESSEL_API Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                               const OptTensor& attn_mask = {}, double dropout_p = 0.0,
                                               bool is_causal = false, std::optional<double> scale = {});

// ---- losses (src/nn/loss.cpp); reduction: "mean", "sum" or "none" ----
// target: class indices [N] / [N, d...] (int) or class probabilities shaped like input.
TESSEL_API Tensor cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& weight = {},
                                int64_t ignore_index = -100, const std::string& reduction = "mean",
                                double label_smoothing = 0.0);
TESSEL_API Tensor nll_loss(const Tensor& input, const Tensor& target, const OptTensor& weight = {},
                           int64_t ignore_index = -100, const std::string& reduction = "mean");
TESSEL_API Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
TESSEL_API Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
TESSEL_API Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                                 double beta = 1.0);
TESSEL_API Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& weight = {},
                                       const std::string& reduction = "mean");
TESSEL_API Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                                   const OptTensor& weight = {},
                                                   const OptTensor& pos_weight = {},
                                                   const std::string& reduction = "mean");

}  // namespace tessel::nn::functional
