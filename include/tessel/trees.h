#pragma once
// Gradient-boosted oblivious trees (src/trees/boost.cpp): the tables' model
// family. An oblivious tree (CatBoost's kind) asks one question per level,
// the same for every node of the level, so a tree of depth d is d
// (feature, threshold) pairs and 2^d leaves: a row's leaf is
// sum_l (x[feature_l] > threshold_l) << l. Prediction is thus a few tensor ops
// (python/tessel/models/trees.py), which ts.onnx.export writes as plain ONNX.
//
// Training is histogram-based: each feature's values are cut into at most
// max_bins bins at quantile borders of the training rows; every level picks
// the (feature, border) with the largest Newton gain summed over the level's
// nodes and outputs; leaves take -learning_rate * G / (H + l2).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessel/tensor.h"

namespace tessel::trees {

struct BoostOptions {
  // "squared_error" (y float [N]) or "log_loss" (y int64 class ids [N] in [0, num_classes)).
  std::string loss = "squared_error";
  int64_t num_classes = 0;  // log_loss only: 2 trains one logistic output, more a softmax
  int64_t depth = 6;        // 1..12
  double learning_rate = 0.1;
  double l2 = 1.0;          // leaf values' L2 penalty (> 0 keeps empty leaves at 0)
  double subsample = 1.0;   // rows per tree, (0, 1]
  double colsample = 1.0;   // features per tree, (0, 1]
  int64_t max_bins = 255;   // 2..256
  int64_t early_stopping = 0;  // rounds without a better validation loss before growing stops; 0: never
  uint64_t seed = 0;
};

// The trees grown so far (or the first `trees` of them), as tensors:
// features int64 [T, depth], thresholds float32 [T, depth],
// leaves float32 [T, 2^depth, K], bias float32 [K]; K is 1 for regression and
// num_classes for classification (a binary model's class 0 column is zero).
struct Ensemble {
  Tensor features, thresholds, leaves, bias;
};

class TESSEL_API Booster {
 public:
  // x float32 [N, F] (NaN goes left at every split), y as BoostOptions::loss
  // says; x_val/y_val optional (early stopping and val_loss need them).
  Booster(const Tensor& x, const Tensor& y, const std::optional<Tensor>& x_val, const std::optional<Tensor>& y_val,
          const BoostOptions& options);
  ~Booster();
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  // Grows up to `rounds` more trees; fewer when early stopping says stop.
  // Returns the trees grown by this call.
  int64_t grow(int64_t rounds);

  int64_t num_trees() const;   // grown so far
  // The count with the best validation loss under early stopping; all grown without it (or without validation data).
  int64_t best_trees() const;
  bool stopped() const;        // early stopping fired
  bool has_validation() const;
  // Mean loss of the current ensemble (log loss in nats, or mean squared error).
  double train_loss() const;
  double val_loss() const;     // NaN without validation data
  double best_val_loss() const;  // the validation loss at best_trees()

  Ensemble ensemble(std::optional<int64_t> trees = {}) const;  // default best_trees()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessel::trees
