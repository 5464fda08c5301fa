#pragma once
// The caching, stream-ordered allocator behind CUDA tensors. cudaMalloc and
// cudaFree are slow (cudaFree synchronizes the device), so freed blocks stay
// cached and are handed out again to requests on the same stream: work queued
// on one stream runs in order, so a block freed there can be reused there at
// once. The bookkeeping is plain C++ over a BackingAllocator, so tests run it
// on the host with a fake backing (tests/cpp/test_cuda_allocator.cpp).
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace tessel::cuda {

// Raw device memory: allocate returns nullptr when the device is out of memory.
struct BackingAllocator {
  virtual ~BackingAllocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void release(void* p) = 0;
  // For blocks also used on other streams (record_stream): an event marking
  // the work queued on `stream` so far, whether it has completed, and its end.
  virtual void* record_event(void* stream) = 0;
  virtual bool event_done(void* event) = 0;
  virtual void destroy_event(void* event) = 0;
};

struct MemoryStats {
  size_t allocated = 0;      // bytes in blocks handed out (rounded sizes)
  size_t max_allocated = 0;  // peak of allocated since the last reset
  size_t reserved = 0;       // bytes held from the backing: in use plus cached
  size_t max_reserved = 0;
  size_t cap = 0;            // 0: no cap
  size_t num_allocs = 0;          // allocate() calls
  size_t num_backing_allocs = 0;  // of which reached the backing allocator
  size_t num_releases = 0;        // blocks given back to the backing allocator
  size_t num_pending = 0;         // freed blocks waiting for other streams' work
};

class CachingAllocator {
 public:
  // `device` names the device in error messages ("cuda:0").
  CachingAllocator(std::unique_ptr<BackingAllocator> backing, std::string device);
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least nbytes for use on `stream` (an opaque handle); throws
  // "[cuda] out of memory ..." when neither the cache, the cap nor the backing allows it.
  void* allocate(size_t nbytes, void* stream);
  // Marks the block at p (handed out, on another stream) as used on `stream`.
  void record_stream(void* p, void* stream);
  // Returns a block to the cache of the stream it was allocated on; a block
  // used on other streams waits (pending) until their work recorded at the
  // free has completed.
  void free(void* p);
  // Gives every cached (unused) block back to the backing allocator.
  void empty_cache();
  MemoryStats stats() const;
  void reset_peak_stats();
  // A limit on reserved bytes (0 removes it); cached blocks are released before it is hit.
  void set_cap(size_t bytes);

  // Sizes are rounded so that blocks are reusable: small requests to 512 bytes,
  // large ones (>= 1 MiB) to 2 MiB.
  static size_t round_size(size_t nbytes);
  static constexpr size_t kSmallRound = 512;
  static constexpr size_t kLargeThreshold = size_t{1} << 20;
  static constexpr size_t kLargeRound = size_t{2} << 20;

 private:
  struct Block {
    size_t size;
    void* stream;
    std::set<void*> used_on;  // other streams (record_stream)
  };
  struct Pending {
    void* ptr;
    Block block;
    std::vector<void*> events;
  };
  void* take_cached(size_t size, void* stream);
  void cache(void* p, const Block& b);
  void collect_pending();
  void release_cached();
  [[noreturn]] void out_of_memory(size_t nbytes, const char* why) const;

  std::unique_ptr<BackingAllocator> backing_;
  std::string device_;
  mutable std::mutex mu_;
  std::map<void*, Block> in_use_;
  std::map<void*, Block> cached_;
  std::vector<Pending> pending_;
  std::set<std::tuple<void*, size_t, void*>> free_by_size_;  // (stream, size, ptr)
  MemoryStats stats_;
};

}  // namespace tessel::cuda
