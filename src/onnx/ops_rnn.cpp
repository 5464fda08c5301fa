// ONNX recurrent ops: LSTM, GRU, RNN.
#include "src/onnx/internal.h"

namespace tessel::onnx {

void register_rnn_ops(std::map<std::string, OpFn>& t) { (void)t; }

}  // namespace tessel::onnx
