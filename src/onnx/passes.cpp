// Graph passes run once after loading: constant folding, fusions, memory planning.
#include "src/onnx/internal.h"

namespace tessel::onnx {

void optimize(Model::Impl& m) { (void)m; }

}  // namespace tessel::onnx
