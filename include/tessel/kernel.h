#pragma once
// What each built-in op hands its kernels: what a kernel for a new device must
// accept. All tensors are on the kernel's device; shapes are already
// validated and broadcast (inputs are expanded views of the output's shape).
//
//   add sub mul div       in: a, b (dtype T, out's shape)        out: T
//   eq ne lt le gt ge     in: a, b (dtype T, out's shape)        out: bool
//   add sub mul div floor_divide remainder pow atan2 maximum minimum bitwise_and/or/xor: like add
//   logical_and/or/xor    like eq (inputs of one dtype T, out bool)
//   unary math (exp ... erfinv, relu, sign, floor, ...)  in: a (T)  out: T (abs of complex: real);
//                         leaky_relu elu gelu softplus round nan_to_num read UnaryParams
//   isnan isinf isfinite logical_not   in: a (T)                 out: bool
//   clamp                 in: a (T); params: ClampParams         out: T
//   lerp                  in: start, end, weight (T, out's shape) out: T
//   where                 in: cond (bool), a, b (T)              out: T
//   sum                   in: a (T, any strides)                 out: keepdim shape; reduced dims
//                         are those where out has size 1; dtype T, or int64 for bool/integers
//   amax amin             like sum, out dtype T
//   max_dim min_dim       in: a (T); params: ReduceDimParams     out: values (T), indices (int64)
//   matmul                in: a [B,M,K], b [B,K,N] (T; one of the two last strides is 1)
//                         out: [B,M,N] contiguous
//   copy                  in: src (any dtype, out's shape)       out: dst (kernel's dtype = src's)
//   fill                  params: const Scalar*                  out: T
//   arange                params: ArangeParams                   out: T (1-D contiguous)
//   take_offsets          in: src (T), offsets (int64, out's shape, element offsets from src.data_ptr())
//                         out: T
//   put_offsets           in: values (T, offsets' shape), offsets (int64)   out: dst (written in place)
//   put_offsets_add       like put_offsets, adding into dst (repeated offsets accumulate)
//   nonzero               in: a (T)                              out: [n, ndim] int64, n counted by the op
//   sort                  in: a (T); params: SortParams          out: values (T), indices (int64), a's shape
//   topk                  in: a (T); params: TopkParams          out: values, indices with size k along dim
//   searchsorted          in: sorted (T, [..., M] or [M]), values (T, [..., N]); params: SearchParams
//                         out: int64, values' shape
//   uniform normal        params: RandomParams                   out: T (contiguous)
//   randint               params: RandomParams (a = low, b = high)  out: T (contiguous)
//   sgd_step              in: grad; out: param, momentum buffer (when momentum != 0); params: OptimParams
//   adam_step             in: grad; out: param, exp_avg, exp_avg_sq[, max_exp_avg_sq]; params: OptimParams
//   rmsprop_step          in: grad; out: param, square_avg[, momentum buffer][, grad_avg]; params: OptimParams
//                         (optimizer steps: all tensors contiguous, one shape, dtype T; updated in place)
//   conv2d                in: x [N,C,H,W], w [O,C/g,kH,kW][, bias [O]] (contiguous); params: ConvParams
//                         out: y [N,O,Ho,Wo] contiguous. Optional: ops fall back to matmul over windows.
//   conv2d_backward_input   in: grad_y, w; params: ConvParams   out: grad_x [N,C,H,W]
//   conv2d_backward_weight  in: grad_y, x; params: ConvParams   out: grad_w[, grad_bias [O]]
//   batch_norm            in: x [N,C,S], weight [C], bias [C] (contiguous, T); params: UnaryParams (a = eps)
//                         out: y [N,C,S], mean [C], invstd [C] (batch statistics, biased variance)
//   batch_norm_backward   in: grad_y, x [N,C,S], mean, invstd, weight [C]
//                         out: grad_x [N,C,S], grad_weight [C], grad_bias [C]
//   relu_backward         in: grad_y, y (T, out's shape)            out: grad_y where y > 0, else 0
//   max_pool2d            in: x [N,C,H,W] contiguous; params: PoolParams
//                         out: y [N,C,Ho,Wo], indices (int64, h * W + w of the first maximum; NaN wins)
//   max_pool2d_backward   in: grad_y, indices; out: grad_x [N,C,H,W] (zeroed by the kernel, then added into)
#include <cstdint>

#include "tessel/scalar.h"

namespace tessel {

// nll_loss_fused and its backward (kernels/cpu/loss.cpp): the class left out,
// and whether the loss is the weighted mean (else the sum).
struct NllLossParams {
  int64_t ignore_index = -100;
  bool mean = true;
};

// Parameters of unary ops: leaky_relu (a = slope), elu (a = alpha), gelu (a = 1 for tanh),
// softplus (a = beta, b = threshold), round (a = decimals), nan_to_num (a = nan, b = posinf, c = neginf).
struct UnaryParams {
  double a = 0, b = 0, c = 0;
};

struct ClampParams {
  Scalar min, max;
  bool has_min = false, has_max = false;
};

struct ReduceDimParams {
  int64_t dim;
};

// NaN sorts as the largest value (last ascending, first descending).
struct SortParams {
  int64_t dim;
  bool descending = false;
};

struct TopkParams {
  int64_t dim;
  int64_t k;
  bool largest = true;
};

struct SearchParams {
  bool right = false;
};

struct ArangeParams {
  Scalar start;
  Scalar step;
};

// Element i of the output is a function of (seed, offset + i) only, so the
// values do not depend on how the work is split across threads.
struct RandomParams {
  uint64_t seed;
  uint64_t offset;
  double a;  // uniform/normal parameters
  double b;
  int64_t low = 0;  // randint's [low, high)
  int64_t high = 0;
};

// A 2-D convolution's geometry; pad is top, bottom, left, right.
struct ConvParams {
  int64_t stride[2] = {1, 1}, pad[4] = {0, 0, 0, 0}, dilation[2] = {1, 1}, groups = 1;
};

// A 2-D pooling window: kernel, stride, padding (top, left), dilation.
struct PoolParams {
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0}, dilation[2] = {1, 1};
};

// One optimizer update (PyTorch's update equations); which fields apply depends on the op.
struct OptimParams {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, alpha = 0.99;
  int64_t step = 1;  // Adam's 1-based step count
  bool nesterov = false, maximize = false, amsgrad = false, decoupled_weight_decay = false, centered = false;
  bool first_step = false;  // SGD: the momentum buffer starts as the gradient
};

}  // namespace tessel
