// The C++ data loader: worker threads build whole batches (read, decode,
// transform, stack) ahead of the consumer, at most num_workers * prefetch
// batches in flight, and hand them over in order.
#include "tessel/data/loader.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>

#include "tessel/io.h"
#include "tessel/ops.h"

namespace tessel::data {
namespace {

Tensor read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    const int e = errno;
    throw FileError(detail::cat("[data.FileDataset] cannot open '", path, "': ", std::strerror(e)), e);
  }
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  Tensor t = empty({static_cast<int64_t>(s.size())}, DType::UInt8);
  std::copy(s.begin(), s.end(), reinterpret_cast<char*>(t.data_ptr()));
  return t;
}

// Rethrows the current exception with `where` in front, keeping its kind.
[[noreturn]] void rethrow_with(const std::string& where) {
  try {
    throw;
  } catch (const FileError& e) {
    throw FileError(where + ": " + e.what(), e.error_number());
  } catch (const ValueError& e) {
    throw ValueError(where + ": " + e.what());
  } catch (const TypeError& e) {
    throw TypeError(where + ": " + e.what());
  } catch (const NotImplementedError& e) {
    throw NotImplementedError(where + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

std::mutex& decoders_mutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, Decoder>& decoders() {
  static std::map<std::string, Decoder> table{{"bytes", &read_bytes}};
  return table;
}

}  // namespace

void register_decoder(const std::string& name, Decoder decoder) {
  TS_CHECK(static_cast<bool>(decoder), ValueError, "data.register_decoder", "empty decoder for \"", name, "\"");
  std::lock_guard<std::mutex> lock(decoders_mutex());
  decoders()[name] = std::move(decoder);
}

std::vector<std::string> decoder_names() {
  std::lock_guard<std::mutex> lock(decoders_mutex());
  std::vector<std::string> names;
  for (const auto& [name, fn] : decoders()) names.push_back(name);
  return names;
}

FileDataset::FileDataset(std::vector<std::string> paths, std::string decode, TransformPtr transform,
                         std::optional<std::vector<int64_t>> labels)
    : paths_(std::move(paths)), decode_(std::move(decode)), transform_(std::move(transform)),
      labels_(std::move(labels)) {
  {
    std::lock_guard<std::mutex> lock(decoders_mutex());
    auto it = decoders().find(decode_);
    if (it != decoders().end()) decoder_ = it->second;
  }
  if (!decoder_) {
    std::string known;
    for (const auto& name : decoder_names()) known += (known.empty() ? "" : ", ") + name;
    fail<ValueError>("data.FileDataset", "unknown decoder \"", decode_, "\" (registered: ", known, ")");
  }
  TS_CHECK(!labels_ || labels_->size() == paths_.size(), ValueError, "data.FileDataset", "got ",
           labels_ ? labels_->size() : 0, " labels for ", paths_.size(), " paths");
}

std::string FileDataset::describe(int64_t index) const {
  return detail::cat("item ", index, " (file '", paths_[static_cast<size_t>(index)], "')");
}

Example FileDataset::get(int64_t index, Rng& rng) const {
  const std::string& path = paths_[static_cast<size_t>(index)];
  Tensor x = decoder_(path);
  if (transform_) x = transform_->apply(x, rng);
  Example ex{x};
  if (labels_) ex.push_back(scalar_tensor(Scalar((*labels_)[static_cast<size_t>(index)]), DType::Int64));
  return ex;
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    Rng rng(item_seed(seed, epoch, ~uint64_t(0)));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);
  }
  return order;
}

std::vector<Tensor> collate(const std::vector<Example>& examples) {
  TS_CHECK(!examples.empty(), ValueError, "data.collate", "cannot collate an empty batch");
  const size_t fields = examples[0].size();
  std::vector<Tensor> out;
  for (size_t f = 0; f < fields; ++f) {
    std::vector<Tensor> column;
    for (size_t i = 0; i < examples.size(); ++i) {
      TS_CHECK(examples[i].size() == fields, ValueError, "data.collate", "example ", i, " has ",
               examples[i].size(), " fields, example 0 has ", fields);
      TS_CHECK(examples[i][f].shape() == examples[0][f].shape(), ValueError, "data.collate", "field ", f,
               " of example ", i, " has shape ", examples[i][f].shape(), ", example 0 has ", examples[0][f].shape(),
               ": resize or crop to one size, or batch_size=1");
      column.push_back(examples[i][f]);
    }
    out.push_back(stack(column, 0));
  }
  return out;
}

DataLoader::DataLoader(DatasetPtr dataset, LoaderOptions options) : dataset_(std::move(dataset)), opts_(options) {
  TS_CHECK(dataset_ != nullptr, ValueError, "data.DataLoader", "dataset is null");
  TS_CHECK(opts_.batch_size >= 1, ValueError, "data.DataLoader", "batch_size must be at least 1, got ",
           opts_.batch_size);
  TS_CHECK(opts_.num_workers >= 0, ValueError, "data.DataLoader", "num_workers must be non-negative, got ",
           opts_.num_workers);
  TS_CHECK(opts_.prefetch >= 1, ValueError, "data.DataLoader", "prefetch must be at least 1, got ", opts_.prefetch);
}

DataLoader::~DataLoader() { stop(); }

int64_t DataLoader::num_batches() const {
  const int64_t n = dataset_->size(), b = opts_.batch_size;
  return opts_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void DataLoader::begin_epoch(uint64_t epoch) {
  const std::vector<int64_t> order = epoch_order(dataset_->size(), opts_.shuffle, opts_.seed, epoch);
  BatchPlan plan;
  const int64_t n = static_cast<int64_t>(order.size()), b = opts_.batch_size;
  for (int64_t lo = 0; lo < n; lo += b) {
    if (opts_.drop_last && lo + b > n) break;
    plan.emplace_back(order.begin() + lo, order.begin() + std::min(n, lo + b));
  }
  begin_epoch(std::move(plan), opts_.seed, epoch);
}

void DataLoader::begin_epoch(BatchPlan batches, uint64_t seed, uint64_t epoch) {
  stop();
  const int64_t n = dataset_->size();
  for (size_t b = 0; b < batches.size(); ++b) {
    TS_CHECK(!batches[b].empty(), ValueError, "data.DataLoader", "batch ", b, " of the plan is empty");
    for (int64_t& i : batches[b]) {
      TS_CHECK(i >= -n && i < n, IndexError, "data.DataLoader", "the sampler gave index ", i, " (batch ", b,
               ") for a dataset of ", n, " items");
      if (i < 0) i += n;
    }
  }
  batches_ = std::move(batches);
  epoch_ = epoch;
  seed_ = seed;
  next_to_start_ = next_to_return_ = 0;
  ready_.clear();
  error_ = nullptr;
  error_batch_ = -1;
  stopping_ = false;
  started_ = true;
  for (int w = 0; w < opts_.num_workers; ++w) workers_.emplace_back([this] { work(); });
}

DataLoader::Batch DataLoader::make_batch(int64_t b) {
  const std::vector<int64_t>& indices = batches_[static_cast<size_t>(b)];
  std::vector<Example> examples;
  for (const int64_t index : indices) {
    Rng rng(item_seed(seed_, epoch_, static_cast<uint64_t>(index)));
    try {
      examples.push_back(dataset_->get(index, rng));
    } catch (...) {
      rethrow_with(detail::cat("[data.DataLoader] ", dataset_->describe(index), " failed"));
    }
  }
  if (!opts_.collate) return Batch{{}, std::move(examples)};
  try {
    return Batch{collate(examples), {}};
  } catch (...) {
    rethrow_with(detail::cat("[data.DataLoader] batch ", b, " (items ", indices.front(), " to ", indices.back(),
                             " of the dataset)"));
  }
}

void DataLoader::work() {
  const int64_t total = static_cast<int64_t>(batches_.size());
  const int64_t window = int64_t(opts_.num_workers) * opts_.prefetch;
  for (;;) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || error_ || next_to_start_ < next_to_return_ + window; });
      if (stopping_ || error_ || next_to_start_ >= total) return;
      b = next_to_start_++;
    }
    Batch batch;
    std::exception_ptr err;
    try {
      batch = make_batch(b);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err && (!error_ || b < error_batch_)) error_ = err, error_batch_ = b;
      if (!err) ready_.emplace(b, std::move(batch));
    }
    cv_.notify_all();
  }
}

DataLoader::Batch DataLoader::next_batch(double timeout) {
  if (opts_.num_workers == 0) return make_batch(next_to_return_++);
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return ready_.count(next_to_return_) || (error_ && error_batch_ <= next_to_return_); };
  if (timeout > 0) {
    if (!cv_.wait_for(lock, std::chrono::duration<double>(timeout), ready)) {
      // The workers stop after their current item; no join here, since a worker
      // stuck in a read is exactly what a timeout is for.
      stopping_ = true;
      lock.unlock();
      cv_.notify_all();
      fail<Error>("data.DataLoader", "timed out after ", timeout, " seconds waiting for batch ", next_to_return_);
    }
  } else {
    cv_.wait(lock, ready);
  }
  if (!ready_.count(next_to_return_)) {
    std::exception_ptr e = error_;
    lock.unlock();
    stop();
    std::rethrow_exception(e);
  }
  Batch batch = std::move(ready_[next_to_return_]);
  ready_.erase(next_to_return_++);
  lock.unlock();
  cv_.notify_all();
  return batch;
}

std::optional<std::vector<Tensor>> DataLoader::next(double timeout) {
  TS_CHECK(started_, ValueError, "data.DataLoader", "call begin_epoch() before next()");
  TS_CHECK(opts_.collate, ValueError, "data.DataLoader", "collate is off: use next_items()");
  if (next_to_return_ >= static_cast<int64_t>(batches_.size())) return std::nullopt;
  return next_batch(timeout).fields;
}

std::optional<std::vector<Example>> DataLoader::next_items(double timeout) {
  TS_CHECK(started_, ValueError, "data.DataLoader", "call begin_epoch() before next_items()");
  TS_CHECK(!opts_.collate, ValueError, "data.DataLoader", "collate is on: use next()");
  if (next_to_return_ >= static_cast<int64_t>(batches_.size())) return std::nullopt;
  return next_batch(timeout).items;
}

}  // namespace tessel::data
