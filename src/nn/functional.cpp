// Embedding and scaled dot-product attention.
#include <cmath>
#include <limits>

#include "tessel/trace.h"
#include "src/nn/nn_util.h"
#include "tessel/amp.h"
#include "tessel/autograd.h"
#include "tessel/nn/functional.h"

namespace tessel::nn::functional {

Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx) {
  if (trace::Op t{"embedding"}) return t.in(input).in(weight).out(embedding(input, weight, padding_idx));
  OpScope scope_("embedding");
  TS_CHECK(is_integral(input.dtype()), TypeError, "embedding", "indices must be an integer tensor, got ",
           input.dtype());
  TS_CHECK(weight.dim() == 2, ValueError, "embedding", "weight must be 2-D [num_embeddings, dim], got ",
           weight.shape());
  const int64_t n = weight.shape()[0];
  // index_select checks the index range (its IndexError is reported under embedding).
  Shape out_shape = input.shape();
  out_shape.push_back(weight.shape()[1]);
  const Tensor flat = input.reshape({-1});
  Tensor out = index_select(weight, 0, flat);
  if (padding_idx) {
    int64_t p = *padding_idx;
    if (p < 0) p += n;
    TS_CHECK(p >= 0 && p < n, IndexError, "embedding", "padding_idx ", *padding_idx, " is out of range for ", n,
             " embeddings");
    // The padding row's values come through, but no gradient flows to it.
    if (weight.requires_grad()) {
      const Tensor is_pad = eq(flat, Scalar(p)).unsqueeze(1);
      out = where(is_pad, out.detach(), out);
    }
  }
  return out.reshape(out_shape);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const OptTensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale) {
  if (trace::Op t{"scaled_dot_product_attention"}) { if (scale) t.attr("scale", *scale); return t.in(q).in(k).in(v).in(attn_mask).attr("dropout_p", dropout_p).attr("is_causal", int64_t{is_causal}).out(scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)); }
  OpScope scope_("scaled_dot_product_attention");
  if (amp::active()) {
    const amp::Cast c(amp::Op::scaled_dot_product_attention, {&q, &k, &v});
    return scaled_dot_product_attention(c[0], c[1], c[2], attn_mask, dropout_p, is_causal, scale);
  }
  TS_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, ValueError, "scaled_dot_product_attention",
           "expected [..., L, E] query, key and value, got ", q.shape(), ", ", k.shape(), " and ", v.shape());
  const int64_t E = q.shape()[q.dim() - 1], L = q.shape()[q.dim() - 2], S = k.shape()[k.dim() - 2];
  TS_CHECK(k.shape()[k.dim() - 1] == E && v.shape()[v.dim() - 2] == S, ValueError, "scaled_dot_product_attention",
           "query ", q.shape(), ", key ", k.shape(), " and value ", v.shape(), " do not fit together");
  TS_CHECK(!(is_causal && attn_mask), ValueError, "scaled_dot_product_attention",
           "pass either attn_mask or is_causal, not both");
  const double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(E));
  Tensor scores = mul(matmul(q, k.mT()), Scalar(sc));
  const double ninf = -std::numeric_limits<double>::infinity();
  if (is_causal) {
    const Tensor keep = tril(ones({L, S}, TensorOptions(DType::Bool, q.device())));
    scores = where(keep, scores, Scalar(ninf));
  } else if (attn_mask) {
    scores = attn_mask->dtype() == DType::Bool ? where(*attn_mask, scores, Scalar(ninf)) : add(scores, *attn_mask);
  }
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0) attn = dropout(attn, dropout_p, true);
  return matmul(attn, v);
}

}  // namespace tessel::nn::functional
