#pragma once
// Shared by the ONNX-ML (ai.onnx.ml) ops: linear models (ops_ml.cpp) and tree
// ensembles (ops_ml_tree.cpp).
#include <string>
#include <vector>

#include "src/onnx/internal.h"

namespace tessel::onnx::ml {

// post_transform of the ML classifiers and regressors.
enum class Post { None, Softmax, Logistic, SoftmaxZero, Probit };
Post post_of(const Node& n, const std::string& name);  // NONE, SOFTMAX, ... (error on others)
Post post_of(const Node& n, int64_t code);             // TreeEnsemble's enum: 0 NONE ... 4 PROBIT
// The transform applied to one row of scores, in place.
void apply_post(Post p, double* s, int64_t n);
double logistic(double v);
double probit(double p);

// A classifier's features: X as [N, F] float64, row-major (a 1-D X is one row).
// Numbers of any dtype are accepted, as onnxruntime casts them.
Tensor features(const Node& n, const Tensor& x);

// Class labels: classlabels_int64s / classlabels_ints, or classlabels_strings.
struct Labels {
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  bool is_string = false;
  int64_t size() const { return is_string ? static_cast<int64_t>(strings.size()) : static_cast<int64_t>(ints.size()); }
  // The label output for class indices `idx` (one per row).
  Value make(const std::vector<int64_t>& idx) const;
};
Labels labels_of(const Node& n, const char* ints_attr, const char* strings_attr);

}  // namespace tessel::onnx::ml

namespace tessel::onnx {
void register_tree_ops(std::map<std::string, OpFn>& t);              // ops_ml_tree.cpp
void register_tree_value_ops(std::map<std::string, ValueOpFn>& t);   // the classifier
void register_svm_ops(std::map<std::string, OpFn>& t);               // ops_ml_svm.cpp
void register_svm_value_ops(std::map<std::string, ValueOpFn>& t);
}  // namespace tessel::onnx
