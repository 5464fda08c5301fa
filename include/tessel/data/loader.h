#pragma once
// Datasets and a DataLoader whose per-item work (reading, decoding, transforms)
// runs on C++ worker threads, so Python's GIL never serializes it
// (src/data/loader.cpp; docs/data.md). Python-defined datasets use the
// Python DataLoader in tessel.data, which shares the batching rules.
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tessel/data/transform.h"
#include "tessel/tensor.h"

namespace tessel::data {

// One example: its fields in order (e.g. {image, label}).
using Example = std::vector<Tensor>;

class TESSEL_API Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // Must be safe to call from several threads at once; rng is this item's own.
  virtual Example get(int64_t index, Rng& rng) const = 0;
  // Names item `index` in error messages ("file 'cat.jpg'").
  virtual std::string describe(int64_t index) const { return "item " + std::to_string(index); }
};
using DatasetPtr = std::shared_ptr<const Dataset>;

// File decoders by name, for FileDataset: "bytes" (uint8 [n]) is built in; the
// audio module adds "audio" (float32 [channels, samples]) and the image module
// "image" (HWC uint8 RGB). Outside code may add its own. Decoders run on worker
// threads, so they must be thread-safe.
using Decoder = std::function<Tensor(const std::string& path)>;
TESSEL_API void register_decoder(const std::string& name, Decoder decoder);
TESSEL_API std::vector<std::string> decoder_names();

// Files read and decoded on the worker threads by the decoder named `decode`;
// the transform (if any) runs on the decoded tensor; the label (if labels are
// given) is the second field, as an int64 scalar.
class TESSEL_API FileDataset final : public Dataset {
 public:
  FileDataset(std::vector<std::string> paths, std::string decode, TransformPtr transform = nullptr,
              std::optional<std::vector<int64_t>> labels = {});
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  Example get(int64_t index, Rng& rng) const override;
  std::string describe(int64_t index) const override;

 private:
  std::vector<std::string> paths_;
  std::string decode_;
  Decoder decoder_;
  TransformPtr transform_;
  std::optional<std::vector<int64_t>> labels_;
};

// Examples stacked field by field into batches ([batch, ...] per field). All
// examples of a batch need the same number of fields and the same shapes.
TESSEL_API std::vector<Tensor> collate(const std::vector<Example>& examples);

// The item order of an epoch: 0..n-1, or shuffled from (seed, epoch) by Fisher-Yates.
TESSEL_API std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch);

struct LoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  uint64_t seed = 0;        // shuffling and per-item randomness: (seed, epoch, index)
  bool drop_last = false;
  int num_workers = 2;      // C++ threads; 0 runs the items on the calling thread
  int prefetch = 2;         // batches in flight per worker
  // false: batches are handed over as their examples (next_items), for
  // Python-side transforms or collate functions that run after the C++ work.
  bool collate = true;
};

// The dataset indices of each batch of an epoch, in delivery order.
using BatchPlan = std::vector<std::vector<int64_t>>;

// Iterates one epoch at a time: begin_epoch(e), then next() until it returns
// nothing. Batches come in order whatever the thread count, and their
// contents do not depend on it. An item's failure is raised from next(),
// naming the item; the other workers stop. A positive timeout (seconds) makes
// next() raise if the batch is not ready in time.
class TESSEL_API DataLoader {
 public:
  DataLoader(DatasetPtr dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t num_batches() const;
  const LoaderOptions& options() const { return opts_; }
  // The plan from the options: epoch_order(size, shuffle, seed, epoch) cut into batch_size pieces.
  void begin_epoch(uint64_t epoch);
  // An explicit plan (from a sampler); item randomness from (seed, epoch, index).
  // Negative indices count from the end; others out of range raise IndexError.
  void begin_epoch(BatchPlan batches, uint64_t seed, uint64_t epoch);
  std::optional<std::vector<Tensor>> next(double timeout = 0);
  // With options().collate == false: the examples of the next batch.
  std::optional<std::vector<Example>> next_items(double timeout = 0);

 private:
  struct Batch {
    std::vector<Tensor> fields;  // collated
    std::vector<Example> items;  // uncollated (collate == false)
  };
  void stop();
  void work();
  Batch make_batch(int64_t b);
  Batch next_batch(double timeout);

  DatasetPtr dataset_;
  LoaderOptions opts_;
  uint64_t epoch_ = 0, seed_ = 0;
  BatchPlan batches_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_to_start_ = 0, next_to_return_ = 0;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  int64_t error_batch_ = -1;
  bool stopping_ = false;
  bool started_ = false;  // begin_epoch has run
};

}  // namespace tessel::data
