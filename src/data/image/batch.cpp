// decode_batch: decode (+ transform) many encoded images on OpenMP threads.
// Each item's Rng depends only on (seed, index), so results do not depend on
// the thread count; the first failing item (by index) is reported.
#include <omp.h>
#include <exception>

#include "src/data/image/image_util.h"
#include "tessel/io.h"

namespace tessel::image {
namespace {

// Re-throws `e` as the same tessel error kind, with the item index in front.
[[noreturn]] void rethrow_item(const std::exception_ptr& e, size_t index) {
  const char* op = "image.decode_batch";
  try {
    std::rethrow_exception(e);
  } catch (const FileError& x) {
    throw FileError(tessel::detail::cat("[", op, "] item ", index, ": ", x.what()), x.error_number());
  } catch (const TypeError& x) {
    fail<TypeError>(op, "item ", index, ": ", x.what());
  } catch (const NotImplementedError& x) {
    fail<NotImplementedError>(op, "item ", index, ": ", x.what());
  } catch (const std::exception& x) {
    fail<ValueError>(op, "item ", index, ": ", x.what());
  }
}

}  // namespace

// Runs item(i) for i in [0, n) on up to num_threads threads; the error of the
// lowest failing index is re-thrown.
template <class F>
std::vector<Tensor> parallel_items(size_t count, int num_threads, F&& item) {
  TS_CHECK(num_threads >= 0, ValueError, "image.decode_batch", "num_threads must be >= 0, got ", num_threads);
  const auto n = static_cast<int64_t>(count);
  std::vector<Tensor> out(count);
  std::vector<std::exception_ptr> errors(count);
  const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    try {
      out[i] = item(i);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  for (size_t i = 0; i < errors.size(); ++i)
    if (errors[i]) rethrow_item(errors[i], i);
  return out;
}

std::vector<Tensor> decode_batch(const std::vector<std::string_view>& items, const DecodeOptions& opts,
                                 const data::TransformPtr& transform, uint64_t seed, int num_threads) {
  return parallel_items(items.size(), num_threads, [&](int64_t i) {
    Tensor t = decode(items[i].data(), items[i].size(), opts);
    if (!transform) return t;
    data::Rng rng(data::item_seed(seed, 0, static_cast<uint64_t>(i)));
    return transform->apply(t, rng);
  });
}

std::vector<Tensor> read_batch(const std::vector<std::string>& paths, const DecodeOptions& opts,
                               const data::TransformPtr& transform, uint64_t seed, int num_threads) {
  return parallel_items(paths.size(), num_threads, [&](int64_t i) {
    Tensor t = read(paths[i], opts);
    if (!transform) return t;
    data::Rng rng(data::item_seed(seed, 0, static_cast<uint64_t>(i)));
    return transform->apply(t, rng);
  });
}

std::vector<Tensor> apply_batch(const data::TransformPtr& transform, const std::vector<Tensor>& images, uint64_t seed,
                                int num_threads) {
  TS_CHECK(transform != nullptr, ValueError, "image.apply_batch", "no transform given");
  return parallel_items(images.size(), num_threads, [&](int64_t i) {
    data::Rng rng(data::item_seed(seed, 0, static_cast<uint64_t>(i)));
    return transform->apply(images[i], rng);
  });
}

}  // namespace tessel::image
