// ONNX import when tessel is built without protobuf (TESSEL_WITH_ONNX=OFF):
// the same functions, each raising a clear error.
#include "tessel/error.h"
#include "tessel/onnx.h"

namespace tessel::onnx {
namespace {
[[noreturn]] void missing() {
  fail<NotImplementedError>("onnx.load", "tessel was built without ONNX (TESSEL_WITH_ONNX=OFF)");
}
}  // namespace

bool available() { return false; }
std::vector<std::string> import_ops() { return {}; }
std::vector<std::string> export_ops() { return {}; }
Model Model::load(const std::string&) { missing(); }
Model Model::load_bytes(const std::string&, const std::string&) { missing(); }
const std::vector<ValueInfo>& Model::inputs() const { missing(); }
const std::vector<ValueInfo>& Model::outputs() const { missing(); }
int64_t Model::opset() const { missing(); }
int64_t Model::ir_version() const { missing(); }
const std::string& Model::producer_name() const { missing(); }
NamedTensors Model::run(const NamedTensors&) const { missing(); }
NamedValues Model::run_values(const NamedValues&) const { missing(); }
std::vector<ValueInfo> Model::value_info() const { missing(); }
std::optional<ValueInfo> Model::value_info(const std::string&) const { missing(); }
MemoryEstimate Model::memory_estimate(const NamedShapes&) const { missing(); }
MemoryStats Model::memory_stats() const { missing(); }
std::string export_bytes(const TracedFn&, const std::vector<Tensor>&, const NamedTensors&, const ExportOptions&) {
  missing();
}
void export_function(const TracedFn&, const std::vector<Tensor>&, const NamedTensors&, const std::string&,
                     const ExportOptions&) {
  missing();
}
void export_model(nn::Module&, const Tensor&, const std::string&, const ExportOptions&) { missing(); }
void export_model(nn::Module&, const TracedFn&, const std::vector<Tensor>&, const std::string&, const ExportOptions&) {
  missing();
}

}  // namespace tessel::onnx
