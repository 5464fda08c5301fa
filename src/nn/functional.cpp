// Embedding and scaled dot-product attention.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "tessel/trace.h"
#include "src/autograd/rules.h"
#include "src/nn/nn_util.h"
#include "tessel/amp.h"
#include "tessel/autograd.h"
#include "tessel/kernel.h"
#include "tessel/nn/functional.h"
#include "tessel/registry.h"

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

namespace {

// Whether the fused kernel runs: by default for causal attention only, where it skips the
// keys above the diagonal and beats the composite (bench/bench_sdpa.py); without the causal
// cut one query row at a time against a key block is slower than the composite's GEMMs.
// TESSEL_SDPA_FUSED=0 turns it off, =all takes it for masks and full attention too (tests,
// A/B timing); read on every call, ~50 ns against the op's microseconds.
bool fused_sdpa_wanted(bool is_causal) {
  const char* e = std::getenv("TESSEL_SDPA_FUSED");
  if (e != nullptr && std::string_view(e) == "0") return false;
  if (e != nullptr && std::string_view(e) == "all") return true;
  return is_causal;
}

// The composite's masking of scores [..., L, S]: causal (top-left aligned), boolean (false:
// excluded) or additive.
Tensor mask_scores(const Tensor& scores, const OptTensor& attn_mask, bool is_causal, int64_t L, int64_t S) {
  const double ninf = -std::numeric_limits<double>::infinity();
  if (is_causal) {
    const Tensor keep = tril(ones({L, S}, TensorOptions(DType::Bool, scores.device())));
    return where(keep, scores, Scalar(ninf));
  }
  if (attn_mask)
    return attn_mask->dtype() == DType::Bool ? where(*attn_mask, scores, Scalar(ninf)) : add(scores, *attn_mask);
  return scores;
}

// The fused flash-style kernel (kernels/cpu/attention.cpp) for CPU float32/float64 q, k, v
// of one dtype and the same batch dims, without dropout; a boolean mask becomes additive.
// nullopt where it does not apply (the caller runs the composite).
std::optional<Tensor> sdpa_fused(const Tensor& q, const Tensor& k, const Tensor& v, const OptTensor& attn_mask,
                                 bool is_causal, double sc) {
  static const OpId kFwd = Registry::get().op_id("sdpa_flash");
  static const OpId kBwd = Registry::get().op_id("sdpa_flash_backward");
  const DType dt = q.dtype();
  if (trace::active() || k.dtype() != dt || v.dtype() != dt || k.device() != q.device() || v.device() != q.device() ||
      q.dim() < 3 || k.dim() != q.dim() || v.dim() != q.dim() || q.numel() == 0 || k.numel() == 0 ||
      v.numel() == 0 || !Registry::get().has(kFwd, q.device().type, dt))
    return std::nullopt;
  const int64_t nd = q.dim(), L = q.shape()[nd - 2], E = q.shape()[nd - 1], S = k.shape()[nd - 2],
                Ev = v.shape()[nd - 1];
  Shape batch(q.shape().begin(), q.shape().end() - 2);
  int64_t B = 1;
  for (int64_t i = 0; i < nd - 2; ++i) {
    if (k.shape()[i] != batch[i] || v.shape()[i] != batch[i]) return std::nullopt;  // broadcast batch dims
    B *= batch[i];
  }
  const TensorOptions opts(dt, q.device());
  Tensor mask3;  // additive [1 or B, L, S]
  if (attn_mask) {
    const Tensor& m = *attn_mask;
    if (m.requires_grad() || m.device() != q.device() || (m.dtype() != DType::Bool && m.dtype() != dt) ||
        m.dim() > nd)
      return std::nullopt;
    Tensor add_m = m.dtype() == DType::Bool
                       ? where(m, full({}, 0.0, opts), full({}, -std::numeric_limits<double>::infinity(), opts))
                       : m;
    bool shared = true;  // one [L, S] mask for every batch entry
    for (int64_t i = 0; i < add_m.dim() - 2; ++i) shared = shared && add_m.shape()[i] == 1;
    if (shared) {
      mask3 = add_m.reshape({-1, add_m.shape()[add_m.dim() - 1]}).expand({L, S}).contiguous().view({1, L, S});
    } else {
      Shape full_shape = batch;
      full_shape.push_back(L);
      full_shape.push_back(S);
      mask3 = add_m.expand(full_shape).contiguous().view({B, L, S});
    }
  }
  const UnaryParams params{sc, is_causal ? 1.0 : 0.0};
  const Tensor q3 = q.contiguous().view({B, L, E}), k3 = k.contiguous().view({B, S, E}),
               v3 = v.contiguous().view({B, S, Ev});
  Tensor o3 = empty({B, L, Ev}, opts), lse = empty({B, L}, opts);
  {
    Tensor outs[2] = {o3, lse};
    std::vector<Tensor> in{q3, k3, v3};
    if (mask3.defined()) in.push_back(mask3);
    dispatch(kFwd, dt, in, outs, &params);
  }
  Shape out_shape = batch;
  out_shape.push_back(L);
  out_shape.push_back(Ev);
  Tensor out = o3.view(out_shape);
  if (!autograd::needs_grad(q, k, v)) return out;
  autograd::record(
      "ScaledDotProductAttentionBackward", {q, k, v}, {out},
      [Q = autograd::SavedTensor(q), K = autograd::SavedTensor(k), V = autograd::SavedTensor(v),
       O = autograd::SavedTensor::output(out, 0), lse, mask3,
       attn_mask, is_causal, sc, B, L, S, E, Ev, params](const Tensors& grads) {
        const Tensor qs = Q.unpack(), ks = K.unpack(), vs = V.unpack();
        const Tensor& g = grads[0];
        if (autograd::GradMode::enabled()) {  // create_graph: the composite's gradient written with ops
          const Tensor p = softmax(mask_scores(mul(matmul(qs, ks.mT()), Scalar(sc)), attn_mask, is_causal, L, S), -1);
          const Tensor dp = matmul(g, vs.mT());
          const Tensor ds = mul(p, sub(dp, tessel::sum(mul(dp, p), {-1}, true)));
          return Tensors{mul(matmul(ds, ks), Scalar(sc)), mul(matmul(ds.mT(), qs), Scalar(sc)), matmul(p.mT(), g)};
        }
        const TensorOptions o(g.dtype(), g.device());
        Tensor outs[3] = {empty({B, L, E}, o), empty({B, S, E}, o), empty({B, S, Ev}, o)};
        std::vector<Tensor> in{g.contiguous().view({B, L, Ev}), qs.contiguous().view({B, L, E}),
                               ks.contiguous().view({B, S, E}), vs.contiguous().view({B, S, Ev}),
                               O.unpack().contiguous().view({B, L, Ev}), lse};
        if (mask3.defined()) in.push_back(mask3);
        dispatch(kBwd, g.dtype(), in, outs, &params);
        return Tensors{outs[0].view(qs.shape()), outs[1].view(ks.shape()), outs[2].view(vs.shape())};
      });
  return out;
}

}  // namespace

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
  if (dropout_p == 0 && fused_sdpa_wanted(is_causal)) {
    if (std::optional<Tensor> fused = sdpa_fused(q, k, v, attn_mask, is_causal, sc)) return *fused;
  }
  Tensor scores = mask_scores(mul(matmul(q, k.mT()), Scalar(sc)), attn_mask, is_causal, L, S);
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0) attn = dropout(attn, dropout_p, true);
  return matmul(attn, v);
}

}  // namespace tessel::nn::functional
