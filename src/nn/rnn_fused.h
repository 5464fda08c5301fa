// The fused LSTM/GRU recurrence (kernels/cpu/rnn.cpp), called by tessel.nn.LSTM/GRU
// (python/tessel/nn/modules/rnn.py) through the _C._nn binding; a header of its own so
// that adding it rebuilds two files.
#pragma once
#include <optional>
#include <vector>

#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::nn::functional {
// One layer and direction of an LSTM (gru false; gates i, f, g, o) or a GRU (gates r,
// z, n; n = tanh(xp_n + r * (h W_hn^T + b_hn))) over a whole sequence, given the input
// projection xp [L, N, G*H] = x W_ih^T + b_ih, h0 [N, H], c0 [N, H] (LSTM only),
// w_hh [G*H, H] and b_hh [G*H] (optional). Returns {out [L, N, H], h_n, c_n (LSTM)}:
// one autograd node with its own backward kernel (first order; under create_graph the
// same recurrence with ops). nullopt where the kernels do not apply (a dtype or device
// without them, autocast, an export trace, an empty sequence): the caller then loops.
TESSEL_API std::optional<std::vector<Tensor>> rnn_fused(bool gru, const Tensor& xp, const Tensor& h0,
                                                        const std::optional<Tensor>& c0, const Tensor& w_hh,
                                                        const std::optional<Tensor>& b_hh, bool reverse);
}  // namespace tessel::nn::functional
