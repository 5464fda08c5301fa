// The fused LSTM/GRU recurrence (rnn_fused.h): the kernels of kernels/cpu/rnn.cpp and
// their derivative rule. First-order gradients come from the backward kernel (one
// node for the whole sequence instead of ~10 per step); under create_graph the rule
// differentiates the same recurrence written with ops, so it is differentiable again.
#include "src/nn/rnn_fused.h"

#include "src/autograd/rules.h"
#include "tessel/amp.h"
#include "tessel/autograd.h"
#include "tessel/error.h"
#include "tessel/kernel.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel::nn::functional {

namespace {
using OptTensor = std::optional<Tensor>;

// The recurrence with ops (the formulas of rnn.py's _lstm_step/_gru_step), for create_graph.
Tensors rnn_reference(bool gru, const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                      const OptTensor& b_hh, bool reverse) {
  const int64_t L = xp.shape()[0], H = w_hh.shape()[1];
  const Tensor wt = w_hh.t();
  Tensor h = h0, c = c0;
  Tensors outs(static_cast<size_t>(L));
  for (int64_t s = 0; s < L; ++s) {
    const int64_t t = reverse ? L - 1 - s : s;
    Tensor hh = matmul(h, wt);
    if (b_hh) hh = hh + *b_hh;
    const Tensor x = xp.select(0, t);
    if (!gru) {
      const Tensor a = x + hh;
      const Tensor i = sigmoid(a.narrow(1, 0, H)), f = sigmoid(a.narrow(1, H, H));
      const Tensor g = tanh(a.narrow(1, 2 * H, H)), o = sigmoid(a.narrow(1, 3 * H, H));
      c = f * c + i * g;
      h = o * tanh(c);
    } else {
      const Tensor r = sigmoid(x.narrow(1, 0, H) + hh.narrow(1, 0, H));
      const Tensor z = sigmoid(x.narrow(1, H, H) + hh.narrow(1, H, H));
      const Tensor n = tanh(x.narrow(1, 2 * H, H) + r * hh.narrow(1, 2 * H, H));
      h = n + z * (h - n);
    }
    outs[static_cast<size_t>(t)] = h;
  }
  Tensors r{stack(outs, 0), h};
  if (!gru) r.push_back(c);
  return r;
}

autograd::SavedTensor save(const OptTensor& t) { return t ? autograd::SavedTensor(*t) : autograd::SavedTensor(); }
Tensor unpack(const autograd::SavedTensor& s) { return s.defined() ? s.unpack() : Tensor(); }
}  // namespace

std::optional<Tensors> rnn_fused(bool gru, const Tensor& xp, const Tensor& h0, const OptTensor& c0,
                                 const Tensor& w_hh, const OptTensor& b_hh, bool reverse) {
  static const OpId kFwd = Registry::get().op_id("rnn_fused"), kBwd = Registry::get().op_id("rnn_fused_backward");
  const char* name = gru ? "GRU" : "LSTM";
  const int64_t G = gru ? 3 : 4;
  TS_CHECK(w_hh.dim() == 2 && w_hh.shape()[0] == G * w_hh.shape()[1], ValueError, name,
           "weight_hh must have shape [", G, " * hidden_size, hidden_size], got ", w_hh.shape());
  const int64_t H = w_hh.shape()[1];
  TS_CHECK(xp.dim() == 3 && xp.shape()[2] == G * H, ValueError, name, "the input projection must have shape [L, N, ",
           G * H, "], got ", xp.shape());
  const int64_t L = xp.shape()[0], N = xp.shape()[1];
  TS_CHECK(h0.shape() == Shape({N, H}), ValueError, name, "h0 must have shape [", N, ", ", H, "], got ", h0.shape());
  TS_CHECK(gru || c0, ValueError, name, "c0 is required");
  if (!gru) TS_CHECK(c0->shape() == Shape({N, H}), ValueError, name, "c0 must have shape [", N, ", ", H, "], got ",
                     c0->shape());
  if (b_hh) TS_CHECK(b_hh->shape() == Shape({G * H}), ValueError, name, "bias_hh must have shape [", G * H, "], got ",
                     b_hh->shape());
  const DType dt = xp.dtype();
  const Device dev = xp.device();
  auto same = [&](const Tensor& t) { return t.dtype() == dt && t.device() == dev; };
  if (L == 0 || N == 0 || H == 0 || amp::active() || trace::active() || !Registry::get().has(kFwd, dev.type, dt) ||
      !same(h0) || !same(w_hh) || (c0 && !gru && !same(*c0)) || (b_hh && !same(*b_hh)))
    return std::nullopt;
  OpScope scope_(name);
  const TensorOptions opts(dt, dev);
  const Tensor none = empty({0}, opts);  // the GRU's unused slots
  const Tensor xc = xp.contiguous(), hc = h0.contiguous(), wc = w_hh.contiguous();
  const Tensor cc = gru ? none : c0->contiguous();
  const Tensor bc = b_hh ? b_hh->contiguous() : zeros({G * H}, opts);
  Tensor out = empty({L, N, H}, opts), hn = empty({N, H}, opts), cn = gru ? none : empty({N, H}, opts);
  Tensor gates = empty({L, N, (gru ? 4 : 5) * H}, opts), hprev = empty({L, N, H}, opts);
  Tensor cprev = gru ? none : empty({L, N, H}, opts);
  const UnaryParams p{gru ? 1.0 : 0.0, reverse ? 1.0 : 0.0};
  const bool needs = autograd::needs_grad(xp, h0, w_hh) || (!gru && autograd::needs_grad(*c0)) ||
                     (b_hh && autograd::needs_grad(*b_hh));
  return autograd::recorded(
      needs,
      [&] {
        const Tensor in[5] = {xc, hc, cc, wc, bc};
        Tensor outs[6] = {out, hn, cn, gates, hprev, cprev};
        dispatch(kFwd, dt, in, outs, &p);
        Tensors r{out, hn};
        if (!gru) r.push_back(cn);
        return r;
      },
      [&](const Tensors& outs) {
        const bool nx = xp.requires_grad(), nh = h0.requires_grad(), nc = !gru && c0->requires_grad(),
                   nw = w_hh.requires_grad(), nb = b_hh && b_hh->requires_grad();
        const auto node = autograd::record(
            gru ? "GruFusedBackward" : "LstmFusedBackward",
            {xp, h0, gru ? Tensor() : *c0, w_hh, b_hh ? *b_hh : Tensor()}, outs,
            [gru, reverse, p, nx, nh, nc, nw, nb, X = autograd::SavedTensor(xp), H0 = autograd::SavedTensor(h0),
             C0 = gru ? autograd::SavedTensor() : autograd::SavedTensor(*c0), W = autograd::SavedTensor(w_hh),
             B = save(b_hh), gates, hprev, cprev, none](const Tensors& grads) {
              Tensors r(5);
              // Outputs without a gradient arrive undefined (the node does not materialize them):
              // an unused output sequence is not read at all, the final states are zeros.
              const int64_t L = gates.shape()[0], N = gates.shape()[1], Hh = gates.shape()[2] / (gru ? 4 : 5);
              const TensorOptions o(gates.dtype(), gates.device());
              auto state_grad = [&](size_t k) {
                return grads[k].defined() ? grads[k].contiguous() : zeros({N, Hh}, o);
              };
              if (autograd::GradMode::enabled()) {  // create_graph: differentiate the recurrence written with ops
                const Tensor xs = X.unpack(), hs = H0.unpack(), ws = W.unpack();
                const Tensor cs = unpack(C0), bs = unpack(B);
                // Inputs that need no gradient still take part: differentiate w.r.t. fresh handles.
                const Tensor xi = nx ? xs : xs.detach(), hi = nh ? hs : hs.detach(), wi = nw ? ws : ws.detach();
                const Tensor ci = gru ? Tensor() : (nc ? cs : cs.detach());
                const OptTensor bi = bs.defined() ? OptTensor(nb ? bs : bs.detach()) : std::nullopt;
                Tensors wrt;
                std::vector<int> slot;
                for (auto [k, need, t] : {std::tuple{0, nx, xi}, std::tuple{1, nh, hi}, std::tuple{2, nc, ci},
                                          std::tuple{3, nw, wi}, std::tuple{4, nb, bi ? *bi : Tensor()}}) {
                  if (need) wrt.push_back(t), slot.push_back(k);
                }
                if (wrt.empty()) return r;
                const Tensors ref = rnn_reference(gru, xi, hi, ci, wi, bi, reverse);
                Tensors gouts{grads[0].defined() ? grads[0] : zeros({L, N, Hh}, o), state_grad(1)};
                if (!gru) gouts.push_back(state_grad(2));
                const Tensors gs = autograd::grad(ref, wrt, gouts, true, true, true);
                for (size_t k = 0; k < slot.size(); ++k) r[static_cast<size_t>(slot[k])] = gs[k];
                return r;
              }
              const Tensor ws = W.unpack().contiguous();
              const int64_t GH = ws.shape()[0];
              const Tensor in[7] = {grads[0].defined() ? grads[0].contiguous() : none, state_grad(1),
                                    gru ? none : state_grad(2), ws, gates, hprev, cprev};
              Tensor res[5] = {empty({L, N, GH}, o), empty({N, Hh}, o), gru ? none : empty({N, Hh}, o),
                               empty({GH, Hh}, o), empty({GH}, o)};
              dispatch(kBwd, ws.dtype(), in, res, &p);
              if (nx) r[0] = res[0];
              if (nh) r[1] = res[1];
              if (nc) r[2] = res[2];
              if (nw) r[3] = res[3];
              if (nb) r[4] = res[4];
              return r;
            });
        if (node) node->materialize_grads = false;
      });
}

}  // namespace tessel::nn::functional
