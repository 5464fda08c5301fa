#pragma once
// The ONNX exporter's graph builder, shared by export.cpp (values, dynamic dims,
// the file) and export_ops.cpp (one emitter per traced op).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "onnx-ml.pb.h"
#include "src/onnx/internal.h"
#include "tessel/trace.h"

namespace tessel::onnx::exporter {

int onnx_type(DType d);  // TensorProto element type; errors for dtypes ONNX lacks

// A traced call seen twice: `a` from the example inputs, `b` from inputs whose
// dynamic axes were grown (null when the export has no dynamic axes). Attributes
// or shapes that differ between the two depend on a dynamic axis.
struct Site {
  const trace::Call& a;
  const trace::Call* b;
  std::vector<std::string> in;   // value names of a.inputs ("" for an omitted one)
  std::vector<std::string> out;  // names the emitter must produce, one per output

  const Tensor& input(size_t k) const;  // errors when missing
  bool has_input(size_t k) const { return k < a.inputs.size() && a.inputs[k].has_value(); }
  DType in_dtype(size_t k) const { return input(k).dtype(); }
  DType out_dtype(size_t k = 0) const { return a.outputs.at(k).dtype(); }
  const Shape& out_shape_a(size_t k = 0) const { return a.outputs.at(k).shape(); }
  const Shape& out_shape_b(size_t k = 0) const { return b ? b->outputs.at(k).shape() : a.outputs.at(k).shape(); }
  // An int attribute in both traces (equal when it does not depend on a dynamic axis).
  std::pair<int64_t, int64_t> int_pair(const std::string& name) const;
  [[noreturn]] void unsupported(const std::string& why) const;
};

class Builder {
 public:
  Builder(::onnx::GraphProto* graph, int64_t opset) : g_(graph), opset_(opset) {}
  int64_t opset() const { return opset_; }

  std::string fresh(const std::string& hint);
  ::onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs);
  // One-output node with a fresh output name; returns the name.
  std::string op(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint = "");

  std::string const_ints(const std::vector<int64_t>& v);  // 1-D int64 initializer
  std::string const_int(int64_t v);                       // 0-d int64
  std::string const_scalar(double v, DType dtype);        // 0-d of `dtype`
  std::string const_tensor(const Tensor& t, const std::string& hint);
  std::string cast(const std::string& v, DType from, DType to);

  // A dynamic dim with size `a` in trace A and `b` in trace B, as a 1-D int64 [1]
  // computed at run time from a value that has it (`prefer` first).
  std::string dim(int64_t a, int64_t b, const std::string& prefer);
  // A shape (trace A sizes `sa`, trace B `sb`) as a 1-D int64 value; static dims
  // are constants, at most one dynamic dim may become -1 when `minus_one`.
  std::string shape(const Shape& sa, const Shape& sb, const std::string& prefer, bool minus_one);

  // Complex values travel as (re, im) pairs in a trailing dim of 2 (export_complex.cpp).
  void mark_pair(const std::string& name) { pairs_.insert(name); }
  bool is_pair(const std::string& name) const { return pairs_.count(name) > 0; }

  // Values known to the builder, with their sizes in both traces.
  void define(const std::string& name, const Shape& a, const Shape& b) { shapes_[name] = {a, b}; order_.push_back(name); }

  // attribute helpers
  static void attr(::onnx::NodeProto* n, const std::string& k, int64_t v);
  static void attr(::onnx::NodeProto* n, const std::string& k, double v);
  static void attr(::onnx::NodeProto* n, const std::string& k, const std::string& v);
  static void attr(::onnx::NodeProto* n, const std::string& k, const std::vector<int64_t>& v);
  static void attr_tensor(::onnx::NodeProto* n, const std::string& k, const Tensor& v);

 private:
  ::onnx::GraphProto* g_;
  int64_t opset_;
  int counter_ = 0;
  std::map<std::string, std::pair<Shape, Shape>> shapes_;
  std::vector<std::string> order_;
  std::map<std::pair<std::string, int64_t>, std::string> dim_cache_;
  std::map<std::string, std::string> shape_cache_;
  std::set<std::string> pairs_;
};

// A complex tensor is written as its (re, im) pairs: [..., 2] of its real dtype.
void fill_tensor(::onnx::TensorProto* p, const Tensor& t, const std::string& name);

using Emitter = void (*)(Builder&, const Site&);
const std::map<std::string, Emitter>& emitters();
void add_nn_emitters(std::map<std::string, Emitter>& table);     // export_nn.cpp
void add_index_emitters(std::map<std::string, Emitter>& table);  // export_index.cpp
void add_fft_emitters(std::map<std::string, Emitter>& table);    // export_complex.cpp
void add_random_emitters(std::map<std::string, Emitter>& table);  // export_random.cpp
// The emitters for calls that read or give complex values (as pairs).
const std::map<std::string, Emitter>& complex_emitters();

// Helpers shared by the emitters (export_ops.cpp).
double attr_f(const trace::Call& c, const std::string& k, double dflt);
int64_t attr_i(const trace::Call& c, const std::string& k, int64_t dflt);
std::vector<int64_t> attr_ints(const trace::Call& c, const std::string& k);
int64_t wrap(int64_t d, int64_t rank);
std::string in_as(Builder& b, const Site& s, size_t k, DType to);  // input k cast to `to`
std::string x_as_out(Builder& b, const Site& s);                    // input 0 in the output dtype
std::string c(Builder& b, const Site& s, double v);                 // a 0-d constant of the output dtype
// Expand's target in both traces: ONNX Expand broadcasts both ways, so a 1 keeps
// the input's own (maybe dynamic) size. permute's and transpose's perm (all dims).
std::pair<Shape, Shape> expand_target(const Site& s);
std::vector<int64_t> permute_perm(const Site& s);
std::vector<int64_t> transpose_perm(const Site& s);
// In-place writes: 0..n-1 laid out in x's shape (sizes `sa`, `sb` in the two traces),
// so that a view op or an index applied to it gives the flat positions it selects;
// and x with the elements at flat positions `pos` replaced by `value` (shaped like
// pos), reshaped to `shape`, as value `out`.
std::string iota(Builder& b, const std::string& x, const Shape& sa, const Shape& sb);
void scatter_flat(Builder& b, const std::string& x, const std::string& pos, const std::string& value,
                  const std::string& shape, const std::string& out);
// ReduceX over `dims` (all when empty) with axes as attribute or input by opset; returns the output name.
std::string reduce(Builder& b, const Site& s, const char* op, const std::string& x, const std::vector<int64_t>& dims,
                   bool keepdim, const std::string& out = "");

}  // namespace tessel::onnx::exporter
