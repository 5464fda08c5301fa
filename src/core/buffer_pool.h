#pragma once
// A pool of CPU buffers recycled by size, for a graph that runs the same shapes
// again and again (the ONNX runtime's memory plan, src/onnx/graph.cpp; and, outside
// any scope, the process-wide cache of storage.cpp that training steps reuse from):
// while a BufferPool::Scope is open on a thread, that thread's large CPU allocations
// (src/core/storage.cpp) take a free buffer of the same size from the pool, and
// every buffer they hand out goes back to the pool when its last tensor dies,
// even after the scope has closed. The graph releases each value after its last
// use, so a later node reuses the buffer of a dead one; from the second run of
// the same shapes on, a run asks the system for no memory at all.
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessel/export.h"

namespace tessel::detail {

class TESSEL_API BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  // Buffers from min_bytes up are pooled (smaller ones have the per-thread cache
  // of storage.cpp); the pool keeps at most cap_bytes of free buffers.
  explicit BufferPool(size_t min_bytes = size_t{64} << 10, size_t cap_bytes = size_t{1} << 30)
      : min_bytes_(min_bytes), cap_bytes_(cap_bytes) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  struct Stats {
    int64_t hits = 0;        // allocations served from the pool
    int64_t misses = 0;      // allocations that went to the system
    int64_t free_bytes = 0;  // bytes held free now
  };
  Stats stats() const;

  // Routes this thread's large CPU allocations through `pool` until destroyed (nests).
  class TESSEL_API Scope {
   public:
    explicit Scope(const std::shared_ptr<BufferPool>& pool);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    BufferPool* saved_;
  };

  // The pool open on this thread, or nullptr (storage.cpp).
  static BufferPool* current();
  bool pools(size_t nbytes) const { return nbytes >= min_bytes_; }
  // A free buffer of exactly `bytes` (a size from round()), or nullptr.
  void* take(size_t bytes);
  // Keeps `p` for reuse, first freeing the buffers given longest ago when the pool would
  // pass its cap (a long-lived process whose sizes drift, e.g. a server's batches, keeps
  // caching its current sizes instead of filling up with stale ones for good); false
  // only when `bytes` alone is over the cap (the caller frees it).
  bool give(void* p, size_t bytes);
  static size_t round(size_t nbytes) { return (nbytes + 4095) / 4096 * 4096; }
  // fork(): held across it, so that the child never inherits a locked mutex
  // (storage.cpp's pthread_atfork handlers for the process-wide cache).
  void lock_for_fork() { mu_.lock(); }
  void unlock_after_fork() { mu_.unlock(); }

 private:
  const size_t min_bytes_, cap_bytes_;
  mutable std::mutex mu_;
  struct Entry {
    void* p;
    size_t bytes;
  };
  std::list<Entry> lru_;  // the free buffers, given longest ago first
  std::unordered_map<size_t, std::vector<std::list<Entry>::iterator>> free_;  // by size, oldest first
  size_t free_bytes_ = 0;
  int64_t hits_ = 0, misses_ = 0;  // under mu_ like the rest
};

}  // namespace tessel::detail
