// ONNX indexing and tensor-manipulation ops: Slice, Gather*/Scatter*, Expand, Tile, Pad, Split, Range, ...
#include "src/onnx/internal.h"

namespace tessel::onnx {

void register_index_ops(std::map<std::string, OpFn>& t) { (void)t; }

}  // namespace tessel::onnx
