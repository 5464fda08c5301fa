// ONNX attention-family ops: Attention (opset 23+: masks, causal, GQA, 3-D and
// 4-D layouts, KV cache, softcap, qk_matmul_output, sliding windows,
// nonpad_kv_seqlen), RotaryEmbedding, RMSNormalization, and the newer LLM-block
// ops LinearAttention, CausalConvWithState, SwiGLU and TensorScatter.
#include <cmath>
#include <limits>

#include "src/onnx/internal.h"
#include "tessel/nn/functional.h"

namespace tessel::onnx {
namespace F = tessel::nn::functional;
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

const Tensor* opt(const Inputs& in, size_t k) { return k < in.size() && in[k] ? &*in[k] : nullptr; }

bool is_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

// Half types compute in float32; the result is cast back.
DType compute_dtype(DType d) { return d == DType::Float64 ? DType::Float64 : DType::Float32; }

void require_float(const Node& n, const Tensor& t, const char* what) {
  if (!is_float(t.dtype())) n.error<TypeError>(what, " must be a floating tensor, got ", t.dtype());
}

void same_dtype(const Node& n, const Tensor& a, const Tensor& b, const char* what) {
  if (a.dtype() != b.dtype())
    n.error<TypeError>(what, " has dtype ", b.dtype(), " but input 0 has ", a.dtype(), " (ONNX does not promote)");
}

// [B, S, H * D] -> [B, H, S, D].
Tensor split_heads(const Node& n, const Tensor& x, int64_t heads, const char* what) {
  if (heads < 1) n.error("3-D inputs need positive q_num_heads and kv_num_heads attributes");
  if (x.shape()[2] % heads != 0) n.error(what, " hidden size ", x.shape()[2], " is not divisible by ", heads, " heads");
  return x.reshape({x.shape()[0], x.shape()[1], heads, x.shape()[2] / heads}).permute({0, 2, 1, 3});
}

// Softmax over the last dim where a row of -inf gives zeros instead of NaN; `rnd`
// rounds each step as a half-precision evaluation would.
template <class Round>
Tensor safe_softmax(const Tensor& x, const Round& rnd) {
  Tensor m = amax(x, {-1}, true);
  m = where(eq(m, Scalar(kNegInf)), Scalar(0.0), m);
  Tensor e = rnd(exp(rnd(sub(x, m))));
  Tensor s = rnd(sum(e, {-1}, true));
  return rnd(div(e, where(eq(s, Scalar(0.0)), Scalar(1.0), s)));
}

// Additive bias [.., L, S] allowing key j for query i iff lo <= j - (i + offset) <= hi
// (either bound may be open); offset is a scalar or per batch ([B] -> [B, 1, L, S]).
Tensor band_bias(int64_t L, int64_t S, const Tensor& offset, std::optional<int64_t> lo, std::optional<int64_t> hi,
                 DType dt) {
  Tensor i = arange(Scalar(int64_t(0)), Scalar(L), Scalar(int64_t(1))).reshape({L, 1});
  Tensor j = arange(Scalar(int64_t(0)), Scalar(S), Scalar(int64_t(1))).reshape({1, S});
  Tensor pos = add(i, offset.dim() == 0 ? offset : offset.reshape({-1, 1, 1}));  // query's absolute position
  Tensor d = sub(j, pos);
  Tensor ok = ones({1}, DType::Bool);
  if (lo) ok = logical_and(ok, ge(d, Scalar(*lo)));
  if (hi) ok = logical_and(ok, le(d, Scalar(*hi)));
  Tensor bias = where(ok, Scalar(0.0), Scalar(kNegInf)).to(dt);
  return offset.dim() == 0 ? bias : bias.unsqueeze(1);
}

std::vector<Tensor> attention(const Node& n, const Inputs& in, const OpContext& ctx) {
  Tensor q = input(n, in, 0), k = input(n, in, 1), v = input(n, in, 2);
  require_float(n, q, "Q");
  same_dtype(n, q, k, "K");
  same_dtype(n, q, v, "V");
  const Tensor *mask = opt(in, 3), *past_k = opt(in, 4), *past_v = opt(in, 5), *nonpad = opt(in, 6);
  if ((past_k == nullptr) != (past_v == nullptr)) n.error("past_key and past_value must be given together");
  if (nonpad && past_k) n.error("nonpad_kv_seqlen cannot be combined with past_key/past_value");
  const int64_t rank = q.dim();
  if ((rank != 3 && rank != 4) || k.dim() != rank || v.dim() != rank)
    n.error("Q, K and V must all be 3-D or all 4-D, got shapes ", q.shape(), ", ", k.shape(), " and ", v.shape());
  const DType dt = q.dtype();
  if (rank == 3) {
    q = split_heads(n, q, n.i("q_num_heads", 0), "Q");
    k = split_heads(n, k, n.i("kv_num_heads", 0), "K");
    v = split_heads(n, v, n.i("kv_num_heads", 0), "V");
  }
  const int64_t B = q.shape()[0], Hq = q.shape()[1], L = q.shape()[2], D = q.shape()[3];
  if (k.shape()[0] != B || v.shape()[0] != B) n.error("Q, K and V must have the same batch size");
  if (k.shape()[3] != D) n.error("K head size ", k.shape()[3], " differs from Q's ", D);
  if (k.shape()[1] != v.shape()[1] || k.shape()[2] != v.shape()[2])
    n.error("K ", k.shape(), " and V ", v.shape(), " must have the same heads and sequence length");
  if (past_k) {
    same_dtype(n, q, *past_k, "past_key");
    same_dtype(n, q, *past_v, "past_value");
    if (past_k->dim() != 4 || past_v->dim() != 4) n.error("past_key and past_value must be 4-D");
    k = cat({*past_k, k}, 2);
    v = cat({*past_v, v}, 2);
  }
  const Tensor present_k = k, present_v = v;
  const int64_t Hkv = k.shape()[1], S = k.shape()[2];
  if (Hq != Hkv) {
    if (Hkv < 1 || Hq % Hkv != 0) n.error("q heads ", Hq, " must be a multiple of kv heads ", Hkv);
    k = repeat_interleave(k, Hq / Hkv, 1);  // each KV head serves Hq / Hkv consecutive query heads
    v = repeat_interleave(v, Hq / Hkv, 1);
  }
  const DType cdt = compute_dtype(dt);
  const double scale = n.has("scale") ? n.f("scale", 1.0) : 1.0 / std::sqrt(static_cast<double>(D));
  // Half inputs: round where a half-precision evaluation would (sqrt(scale) on each
  // of Q and K, the products, the scores, the probabilities), so results match it.
  const bool half = cdt != dt;
  auto rnd = [&](const Tensor& t) { return half ? t.to(dt).to(cdt) : t; };
  const double root = half ? scalar_tensor(Scalar(std::sqrt(scale)), dt).item<double>() : std::sqrt(scale);
  Tensor qk = rnd(matmul(rnd(mul(q.to(cdt), Scalar(root))), rnd(mul(k.to(cdt), Scalar(root))).mT()));  // [B, Hq, L, S]

  Tensor bias = zeros({L, S}, cdt);
  if (mask) {
    if (mask->dim() < 1 || mask->dim() > 4) n.error("attn_mask must be 1-D to 4-D, got shape ", mask->shape());
    Tensor m = mask->dtype() == DType::Bool ? where(*mask, Scalar(0.0), Scalar(kNegInf)).to(cdt)
               : is_float(mask->dtype())   ? mask->to(cdt)
                                           : Tensor();
    if (!m.defined()) n.error<TypeError>("attn_mask must be bool or floating, got ", mask->dtype());
    const int64_t ms = m.shape()[m.dim() - 1];
    if (ms > S) n.error("attn_mask's last dim ", ms, " exceeds the total sequence length ", S);
    if (ms < S) m = pad(m, {0, S - ms}, "constant", kNegInf);  // keys past the mask are not attended
    bias = add(bias, m);
  }
  Tensor offset = scalar_tensor(Scalar(int64_t(past_k ? past_k->shape()[2] : 0)), DType::Int64);
  if (nonpad) {
    if (nonpad->dtype() != DType::Int64 && nonpad->dtype() != DType::Int32)
      n.error<TypeError>("nonpad_kv_seqlen must be int64, got ", nonpad->dtype());
    if (nonpad->numel() != B) n.error("nonpad_kv_seqlen must have one value per batch (", B, "), got ", nonpad->shape());
    Tensor len = nonpad->to(DType::Int64).reshape({B});
    offset = sub(len, Scalar(L));
    // Keys at or past each batch's length are padding.
    Tensor j = arange(Scalar(int64_t(0)), Scalar(S), Scalar(int64_t(1)));
    Tensor valid = lt(j.reshape({1, S}), len.reshape({B, 1}));
    bias = add(bias, where(valid, Scalar(0.0), Scalar(kNegInf)).to(cdt).reshape({B, 1, 1, S}));
  }
  if (n.i("is_causal", 0)) bias = add(bias, band_bias(L, S, offset, std::nullopt, 0, cdt));
  const int64_t left = n.i("left_window_size", -1), right = n.i("right_window_size", -1);
  if (left < -1 || right < -1) n.error("left_window_size and right_window_size must be -1 or nonnegative");
  if (left >= 0 || right >= 0)
    bias = add(bias, band_bias(L, S, offset, left >= 0 ? std::optional<int64_t>(-left) : std::nullopt,
                               right >= 0 ? std::optional<int64_t>(right) : std::nullopt, cdt));

  const double softcap = n.f("softcap", 0.0);
  if (softcap > 0) qk = rnd(mul(tanh(div(qk, Scalar(softcap))), Scalar(softcap)));
  Tensor scores = rnd(add(qk, bias));
  const int64_t mode = n.i("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3) n.error("qk_matmul_output_mode must be 0, 1, 2 or 3, got ", mode);
  Tensor qk_out = mode == 2 ? scores : qk;
  Tensor probs = safe_softmax(scores, rnd);
  // A query with no attendable key (its bias all -inf) gets zeros, even if a score is NaN.
  Tensor dead = eq(amax(bias, {-1}, true), Scalar(kNegInf));
  probs = where(dead, Scalar(0.0), probs);
  if (mode == 3) qk_out = probs;
  Tensor y = matmul(probs.to(dt).to(cdt), v.to(cdt));  // [B, Hq, L, Dv]
  if (rank == 3) y = y.permute({0, 2, 1, 3}).reshape({B, L, -1});
  (void)ctx;
  return {y.to(dt), present_k.contiguous(), present_v.contiguous(), broadcast_to(qk_out, {B, Hq, L, S}).to(dt)};
}

std::vector<Tensor> rotary_embedding(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  Tensor cosc = input(n, in, 1), sinc = input(n, in, 2);
  require_float(n, x, "input");
  same_dtype(n, x, cosc, "cos_cache");
  same_dtype(n, x, sinc, "sin_cache");
  const Tensor* pos = opt(in, 3);
  Tensor t;  // [B, S, H, D]
  if (x.dim() == 4) {
    t = x.permute({0, 2, 1, 3});
  } else if (x.dim() == 3) {
    const int64_t heads = n.i("num_heads", 0);
    if (heads < 1) n.error("3-D input needs a positive num_heads attribute");
    if (x.shape()[2] % heads != 0) n.error("hidden size ", x.shape()[2], " is not divisible by num_heads ", heads);
    t = x.reshape({x.shape()[0], x.shape()[1], heads, x.shape()[2] / heads});
  } else {
    n.error("input must be 3-D or 4-D, got shape ", x.shape());
  }
  const int64_t B = t.shape()[0], S = t.shape()[1], D = t.shape()[3];
  int64_t rd = n.i("rotary_embedding_dim", 0);
  if (rd == 0) rd = D;
  if (rd < 0 || rd > D || rd % 2 != 0) n.error("rotary_embedding_dim ", rd, " must be even and at most the head size ", D);
  if (pos) {
    if (pos->dtype() != DType::Int64) n.error<TypeError>("position_ids must be int64, got ", pos->dtype());
    if (cosc.dim() != 2 || sinc.dim() != 2) n.error("with position_ids, cos_cache and sin_cache must be 2-D");
    const int64_t rows = cosc.shape()[0];
    if (pos->numel() > 0 && (min(*pos).item<int64_t>() < 0 || max(*pos).item<int64_t>() >= rows))
      n.error<IndexError>("position_ids must lie in [0, ", rows, ")");
    cosc = index_select(cosc, 0, pos->reshape({-1})).reshape({pos->shape()[0], pos->shape()[1], -1});
    sinc = index_select(sinc, 0, pos->reshape({-1})).reshape({pos->shape()[0], pos->shape()[1], -1});
  }
  if (cosc.shape()[cosc.dim() - 1] != rd / 2 || sinc.shape()[sinc.dim() - 1] != rd / 2)
    n.error("the caches' last dim must be rotary_embedding_dim / 2 = ", rd / 2, ", got ", cosc.shape(), " and ",
            sinc.shape());
  if (cosc.dim() != 3 || cosc.shape()[1] != S || (cosc.shape()[0] != B && cosc.shape()[0] != 1))
    n.error("cos_cache/sin_cache must be [batch, seq, rotary_dim / 2] (or 2-D with position_ids), got ", cosc.shape());
  const DType cdt = compute_dtype(x.dtype());
  Tensor c = cosc.to(cdt).unsqueeze(2), s = sinc.to(cdt).unsqueeze(2);  // [B, S, 1, rd / 2]
  Tensor rot = t.slice(3, 0, rd).to(cdt);
  const bool inter = n.i("interleaved", 0) != 0;
  Tensor x1 = inter ? rot.slice(3, 0, rd, 2) : rot.slice(3, 0, rd / 2);
  Tensor x2 = inter ? rot.slice(3, 1, rd, 2) : rot.slice(3, rd / 2, rd);
  Tensor re = sub(mul(c, x1), mul(s, x2)), im = add(mul(s, x1), mul(c, x2));
  rot = inter ? stack({re, im}, -1).reshape({B, S, t.shape()[2], rd}) : cat({re, im}, -1);
  Tensor out = cat({rot.to(x.dtype()), t.slice(3, rd, D)}, 3);
  out = x.dim() == 4 ? out.permute({0, 2, 1, 3}).contiguous() : out.reshape(x.shape());
  return {out};
}

std::vector<Tensor> rms_normalization(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor &x = input(n, in, 0), &scale = input(n, in, 1);
  require_float(n, x, "X");
  same_dtype(n, x, scale, "scale");
  const int64_t r = x.dim();
  int64_t axis = n.i("axis", -1);
  if (axis < -r || axis >= r) n.error("axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  const int64_t stash = n.i("stash_type", 1);
  if (stash != 1 && stash != 11) n.error("stash_type ", stash, " must be 1 (float) or 11 (double)");
  const DType cdt = stash == 11 || x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  Shape dims;
  for (int64_t d = axis; d < r; ++d) dims.push_back(d);
  Tensor xf = x.to(cdt);
  Tensor inv = rsqrt(add(mean(square(xf), dims, true), Scalar(n.f("epsilon", 1e-5))));
  return {mul(mul(xf, inv).to(x.dtype()), scale)};
}


// Recurrent linear attention over T steps with a [B, Hkv, dk, dv] state:
// optional decay gating (state *= exp(g)) and delta-rule correction
// (v <- beta * (v - state^T k)), then state += k v^T; output = scale * q^T state.
std::vector<Tensor> linear_attention(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor &q = input(n, in, 0), &k = input(n, in, 1), &v = input(n, in, 2);
  require_float(n, q, "query");
  same_dtype(n, q, k, "key");
  same_dtype(n, q, v, "value");
  const Tensor *past = opt(in, 3), *decay = opt(in, 4), *beta = opt(in, 5);
  const std::string rule = n.s("update_rule", "gated_delta");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    n.error("update_rule must be linear, gated, delta or gated_delta");
  const bool gating = rule == "gated" || rule == "gated_delta", delta = rule == "delta" || rule == "gated_delta";
  if (gating != (decay != nullptr)) n.error("update_rule '", rule, "' ", gating ? "requires" : "forbids", " the decay input");
  if (delta != (beta != nullptr)) n.error("update_rule '", rule, "' ", delta ? "requires" : "forbids", " the beta input");
  const int64_t hq = n.i("q_num_heads", 0), hkv = n.i("kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0 || hq % hkv != 0) n.error("q_num_heads must be a positive multiple of kv_num_heads");
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3) n.error("query, key and value must be 3-D [B, T, H * D]");
  const DType cdt = compute_dtype(q.dtype());
  Tensor q4 = split_heads(n, q, hq, "query").to(cdt), k4 = split_heads(n, k, hkv, "key").to(cdt);
  Tensor v4 = split_heads(n, v, hkv, "value").to(cdt);
  const int64_t B = q.shape()[0], T = q.shape()[1], dk = q4.shape()[3], dv = v4.shape()[3];
  if (k4.shape()[3] != dk || k.shape()[1] != T || v.shape()[1] != T) n.error("key must match query's head size and length");
  Tensor g4, b4;
  if (decay) {
    same_dtype(n, q, *decay, "decay");
    if (decay->dim() != 3) n.error("decay must be 3-D, got shape ", decay->shape());
    const int64_t last = decay->shape()[2];
    if (last == hkv) g4 = decay->reshape({B, T, hkv, 1}).permute({0, 2, 1, 3}).to(cdt);
    else if (last == hkv * dk) g4 = split_heads(n, *decay, hkv, "decay").to(cdt);
    else n.error("decay's last dim must be kv_num_heads or kv_num_heads * head size, got ", last);
  }
  if (beta) {
    same_dtype(n, q, *beta, "beta");
    if (beta->dim() != 3 || (beta->shape()[2] != hkv && beta->shape()[2] != 1))
      n.error("beta must be [B, T, kv_num_heads or 1], got shape ", beta->shape());
    b4 = beta->reshape({B, T, beta->shape()[2], 1}).permute({0, 2, 1, 3}).to(cdt);
  }
  Tensor state = zeros({B, hkv, dk, dv}, cdt);
  DType state_dtype = q.dtype();
  if (past) {
    if (!is_float(past->dtype())) n.error<TypeError>("past_state must be floating, got ", past->dtype());
    if (past->shape() != Shape{B, hkv, dk, dv}) n.error("past_state must be ", Shape{B, hkv, dk, dv}, ", got ", past->shape());
    state = past->to(cdt).clone();
    state_dtype = past->dtype();
  }
  const double sc = n.f("scale", 0.0);
  const double scale = sc == 0.0 ? 1.0 / std::sqrt(static_cast<double>(dk)) : sc;
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < T; ++t) {
    Tensor kt = k4.select(2, t), vt = v4.select(2, t);  // [B, Hkv, dk], [B, Hkv, dv]
    if (gating) state = mul(state, exp(g4.select(2, t)).unsqueeze(-1));
    if (delta) vt = mul(b4.select(2, t), sub(vt, matmul(kt.unsqueeze(2), state).squeeze(2)));
    state = add(state, mul(kt.unsqueeze(-1), vt.unsqueeze(2)));
    Tensor read = hq == hkv ? state : repeat_interleave(state, hq / hkv, 1);
    steps.push_back(mul(matmul(q4.select(2, t).unsqueeze(2), read).squeeze(2), Scalar(scale)));  // [B, Hq, dv]
  }
  Tensor out = T == 0 ? zeros({B, 0, hq * dv}, cdt) : stack(steps, 1).reshape({B, T, hq * dv});
  return {out.to(q.dtype()), state.to(state_dtype)};
}

// Depthwise causal conv1d over [past_state, input] (weight [C, 1, k]); the last
// k - 1 columns become the new state.
std::vector<Tensor> causal_conv_with_state(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor &x = input(n, in, 0), &w = input(n, in, 1);
  require_float(n, x, "input");
  same_dtype(n, x, w, "weight");
  const Tensor *bias = opt(in, 2), *past = opt(in, 3);
  const std::string act = n.s("activation", "none");
  if (act != "none" && act != "silu" && act != "swish") n.error("activation must be none, silu or swish");
  if (x.dim() != 3) n.error("input must be [B, C, L], got shape ", x.shape());
  const int64_t B = x.shape()[0], C = x.shape()[1];
  if (w.dim() != 3 || w.shape()[0] != C || w.shape()[1] != 1) n.error("weight must be [", C, ", 1, k], got ", w.shape());
  const int64_t k = w.shape()[2];
  if (k < 1) n.error("the kernel size must be positive");
  Tensor state = zeros({B, C, k - 1}, x.dtype());
  if (past) {
    same_dtype(n, x, *past, "past_state");
    if (past->shape() != Shape{B, C, k - 1}) n.error("past_state must be ", Shape{B, C, k - 1}, ", got ", past->shape());
    state = *past;
  }
  if (bias) {
    same_dtype(n, x, *bias, "bias");
    if (bias->dim() != 1 || bias->shape()[0] != C) n.error("bias must be [", C, "], got ", bias->shape());
  }
  Tensor padded = cat({state, x}, 2);
  const DType cdt = compute_dtype(x.dtype());
  F::ConvOptions o;
  o.groups = C;
  Tensor y = F::conv1d(padded.to(cdt), w.to(cdt), bias ? std::optional<Tensor>(bias->to(cdt)) : std::nullopt, o);
  if (act != "none") y = mul(y, sigmoid(y));
  const int64_t len = padded.shape()[2];
  return {y.to(x.dtype()), padded.slice(2, len - (k - 1), len).contiguous()};
}

// past_cache with update written along `axis` from write_indices[b] on (wrapping in circular mode).
std::vector<Tensor> tensor_scatter(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor &cache = input(n, in, 0), &upd = input(n, in, 1);
  if (cache.dtype() != upd.dtype())
    n.error<TypeError>("update has dtype ", upd.dtype(), " but past_cache has ", cache.dtype());
  const std::string mode = n.s("mode", "linear");
  if (mode != "linear" && mode != "circular") n.error("mode must be linear or circular");
  const int64_t r = cache.dim();
  int64_t axis = n.i("axis", -2);
  if (r < 2 || axis < -r || axis >= r) n.error("axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  if (axis == 0) n.error("axis must not be the batch dim");
  if (upd.dim() != r) n.error("update ", upd.shape(), " must have past_cache's rank");
  for (int64_t d = 0; d < r; ++d)
    if (d == axis ? upd.shape()[d] > cache.shape()[d] : upd.shape()[d] != cache.shape()[d])
      n.error("update ", upd.shape(), " does not fit past_cache ", cache.shape(), " along axis ", axis);
  const int64_t B = cache.shape()[0], S = upd.shape()[axis], max_len = cache.shape()[axis];
  Tensor start = zeros({B}, DType::Int64);
  if (const Tensor* wi = opt(in, 2)) {
    if (wi->dtype() != DType::Int64) n.error<TypeError>("write_indices must be int64, got ", wi->dtype());
    if (wi->numel() != B) n.error("write_indices must have one value per batch (", B, "), got ", wi->shape());
    start = wi->reshape({B});
  }
  Tensor pos = add(start.reshape({B, 1}), arange(Scalar(int64_t(0)), Scalar(S), Scalar(int64_t(1))).reshape({1, S}));
  if (mode == "circular") pos = remainder(pos, Scalar(max_len));
  if (pos.numel() > 0 && (min(pos).item<int64_t>() < 0 || max(pos).item<int64_t>() >= max_len))
    n.error<IndexError>("write_indices + update length run past the cache's ", max_len, " positions");
  Shape ps(r, 1);
  ps[0] = B;
  ps[axis] = S;
  return {scatter(cache, axis, pos.reshape(ps).expand(upd.shape()).contiguous(), upd)};
}
}  // namespace

void register_attention_ops(std::map<std::string, OpFn>& t) {
  t["Attention"] = attention;
  t["RotaryEmbedding"] = rotary_embedding;
  t["RMSNormalization"] = rms_normalization;
  t["LinearAttention"] = linear_attention;
  t["CausalConvWithState"] = causal_conv_with_state;
  t["TensorScatter"] = tensor_scatter;
  // swish(A, alpha) * B: A and B of one shape and dtype.
  t["SwiGLU"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor &a = input(n, in, 0), &b = input(n, in, 1);
    require_float(n, a, "A");
    same_dtype(n, a, b, "B");
    if (a.shape() != b.shape()) n.error("A ", a.shape(), " and B ", b.shape(), " must have the same shape");
    const DType cdt = compute_dtype(a.dtype());
    Tensor af = a.to(cdt);
    return std::vector<Tensor>{mul(mul(af, sigmoid(mul(af, Scalar(n.f("alpha", 1.0))))), b.to(cdt)).to(a.dtype())};
  };
}

}  // namespace tessel::onnx
