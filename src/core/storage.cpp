#include "tessel/storage.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <pthread.h>
#include <sys/mman.h>

#include "src/core/buffer_pool.h"
#include "tessel/error.h"

namespace tessel {

StorageImpl::~StorageImpl() {
  if (deleter_) deleter_(ctx_, data_);
}

namespace {
// Large buffers go on 2 MiB boundaries and ask for transparent huge pages (as
// NumPy does): first touch then faults once per 2 MiB instead of per 4 KiB,
// which is most of the cost of a fresh 64 MB output.
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeThreshold = size_t{4} << 20;

void* cpu_allocate(size_t nbytes, int) {
  const size_t align = nbytes >= kHugeThreshold ? kHugePage : kAlignment;
  // aligned_alloc wants a multiple of the alignment; 0 bytes still gets a valid pointer.
  const size_t n = (nbytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, n == 0 ? align : n);
  if (!p) fail<Error>("allocate", "out of memory allocating ", nbytes, " bytes on cpu");
#ifdef MADV_HUGEPAGE
  if (align == kHugePage) madvise(p, n, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  return p;
}
void cpu_deallocate(void* p, int) { std::free(p); }
void cpu_copy(void* dst, const void* src, size_t n, int) {
  if (n) std::memcpy(dst, src, n);
}

struct HooksTable {
  std::mutex mu;
  std::array<DeviceHooks, kMaxDeviceTypes> hooks{};
  HooksTable() { hooks[0] = DeviceHooks{cpu_allocate, cpu_deallocate, cpu_copy, cpu_copy}; }
};
HooksTable& table() {
  static HooksTable t;
  return t;
}

struct DeleterCtx {
  void (*deallocate)(void*, int);
  int index;
};
}  // namespace

void register_device_hooks(DeviceType type, const DeviceHooks& hooks) {
  TS_CHECK(hooks.allocate && hooks.deallocate && hooks.copy_to_host && hooks.copy_from_host, ValueError,
           "register_device_hooks", "all four hooks are required for ", device_type_name(type));
  std::lock_guard<std::mutex> lock(table().mu);
  table().hooks[static_cast<size_t>(type)] = hooks;
}

const DeviceHooks& device_hooks(DeviceType type) {
  const DeviceHooks& h = table().hooks[static_cast<size_t>(type)];
  if (!h.allocate) {
    // The CUDA backend registers its hooks whenever it is compiled in, with or without a device.
    if (type == DeviceType::CUDA) fail<Error>("device", "tessel was built without CUDA (TESSEL_WITH_CUDA=OFF)");
    fail<Error>("device", "no memory hooks for device type '", device_type_name(type),
                "' (built without it, or its plugin is not loaded)");
  }
  return h;
}

namespace {
// Tiny tensors are allocated and freed on every op: a per-thread cache of
// small 64-byte-aligned blocks (by 64-byte size class) saves aligned_alloc's
// slow path. A block freed on another thread joins that thread's cache.
constexpr size_t kSmallClasses = 16;  // blocks up to 16 * 64 = 1 KiB
constexpr size_t kCachedPerClass = 32;
thread_local bool t_small_dead = false;  // trivially destructible: valid until the thread ends

struct SmallBlockCache {
  std::array<std::array<void*, kCachedPerClass>, kSmallClasses> blocks{};
  std::array<size_t, kSmallClasses> count{};
  ~SmallBlockCache() {
    t_small_dead = true;  // storage freed later on this thread (static Tensors) bypasses the cache
    for (size_t c = 0; c < kSmallClasses; ++c)
      for (size_t i = 0; i < count[c]; ++i) std::free(blocks[c][i]);
    count.fill(0);
  }
};
thread_local SmallBlockCache t_small;

size_t small_class(size_t nbytes) { return nbytes == 0 ? 0 : (nbytes - 1) / kAlignment; }

void free_small(void* ctx, void* p) {
  const auto c = reinterpret_cast<size_t>(ctx);
  if (t_small_dead) return std::free(p);
  SmallBlockCache& cache = t_small;
  if (cache.count[c] < kCachedPerClass) cache.blocks[c][cache.count[c]++] = p;
  else std::free(p);
}
}  // namespace

namespace detail {
namespace {
thread_local BufferPool* t_pool = nullptr;
struct PoolRef {  // a pooled buffer's way home
  std::shared_ptr<BufferPool> pool;
  size_t bytes;
};
}  // namespace

BufferPool::~BufferPool() {
  for (const Entry& e : lru_) std::free(e.p);
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {hits_, misses_, static_cast<int64_t>(free_bytes_)};
}

BufferPool::Scope::Scope(const std::shared_ptr<BufferPool>& pool) : saved_(t_pool) { t_pool = pool.get(); }
BufferPool::Scope::~Scope() { t_pool = saved_; }
BufferPool* BufferPool::current() { return t_pool; }

void* BufferPool::take(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = free_.find(bytes);
  if (it == free_.end() || it->second.empty()) {
    ++misses_;
    return nullptr;
  }
  const auto e = it->second.back();  // the newest of this size: likeliest still in cache
  it->second.pop_back();
  void* p = e->p;
  lru_.erase(e);
  free_bytes_ -= bytes;
  ++hits_;
  return p;
}

bool BufferPool::give(void* p, size_t bytes) {
  if (bytes > cap_bytes_) return false;
  std::vector<void*> evicted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (free_bytes_ + bytes > cap_bytes_) {
      const Entry old = lru_.front();  // also the oldest of its size: the front of its list
      auto& same = free_[old.bytes];
      same.erase(same.begin());
      lru_.pop_front();
      free_bytes_ -= old.bytes;
      evicted.push_back(old.p);
    }
    lru_.push_back({p, bytes});
    free_[bytes].push_back(std::prev(lru_.end()));
    free_bytes_ += bytes;
  }
  for (void* q : evicted) std::free(q);  // outside the lock: munmap can take a while
  return true;
}
}  // namespace detail

namespace {
// The process-wide cache of large CPU buffers (256 KiB and up; TESSEL_CPU_CACHE_MB
// caps what it holds free, default 512, 0 turns it off). A training step frees
// and allocates the same sizes every step: from the system each such buffer was
// a fresh mmap whose pages the kernel zeroed on first touch (perf: clear_page
// 7.5% of an LSTM step), as costly as computing into them. Reused instead, a
// GPT-style char model trained 1.20 -> 1.48x PyTorch's samples/s on one thread
// and 0.91 -> 1.58x on two (bench/bench_train.py). Buffers freed while a
// BufferPool::Scope is open go to that scope's pool, as before.
detail::BufferPool* default_pool() {
  static detail::BufferPool* const pool = []() -> detail::BufferPool* {
    size_t mb = 512;
    if (const char* e = std::getenv("TESSEL_CPU_CACHE_MB"); e && *e) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(e, &end, 10);
      if (end && *end == '\0') mb = static_cast<size_t>(v);  // a malformed value keeps the default
    }
    if (mb == 0) return nullptr;
    // Never destroyed: buffers freed during static destruction still find it.
    auto* holder = new std::shared_ptr<detail::BufferPool>(
        std::make_shared<detail::BufferPool>(size_t{256} << 10, mb << 20));
    detail::BufferPool* p = holder->get();
    ::pthread_atfork([] { default_pool()->lock_for_fork(); }, [] { default_pool()->unlock_after_fork(); },
                     [] { default_pool()->unlock_after_fork(); });
    return p;
  }();
  return pool;
}

// Made when the library loads, while the process has one thread. Made lazily, a fork() in one thread
// while another ran the first allocation left the child waiting forever on the half-done static
// initialization (and before the atfork handlers existed): Tensor.ForkWhileAnotherThreadAllocatesLargeBuffers
// failed so, once in a CI run. TESSEL_CPU_CACHE_MB is therefore read at load.
[[maybe_unused]] const bool g_made_at_load = (table(), default_pool(), true);
}  // namespace

Storage allocate(size_t nbytes, Device device) {
  if (device.type == DeviceType::CPU) {
    detail::BufferPool* pool = detail::BufferPool::current();
    if (!pool) pool = default_pool();
    if (pool && pool->pools(nbytes)) {
      const size_t bytes = detail::BufferPool::round(nbytes);
      void* p = pool->take(bytes);
      if (!p) p = cpu_allocate(bytes, 0);
      auto* ref = new detail::PoolRef{pool->shared_from_this(), bytes};
      return std::make_shared<StorageImpl>(
          p, nbytes, device,
          [](void* c, void* d) {
            auto* r = static_cast<detail::PoolRef*>(c);
            if (!r->pool->give(d, r->bytes)) std::free(d);
            delete r;
          },
          ref);
    }
    const size_t c = small_class(nbytes);
    if (c < kSmallClasses && !t_small_dead) {
      SmallBlockCache& cache = t_small;
      void* p = cache.count[c] ? cache.blocks[c][--cache.count[c]] : cpu_allocate((c + 1) * kAlignment, 0);
      return std::make_shared<StorageImpl>(p, nbytes, device, &free_small, reinterpret_cast<void*>(c));
    }
    void* p = cpu_allocate(nbytes, 0);
    return std::make_shared<StorageImpl>(p, nbytes, device, [](void*, void* d) { std::free(d); }, nullptr);
  }
  const DeviceHooks& h = device_hooks(device.type);
  void* p = h.allocate(nbytes, device.index);
  auto* ctx = new DeleterCtx{h.deallocate, device.index};
  return std::make_shared<StorageImpl>(
      p, nbytes, device,
      [](void* c, void* d) {
        auto* dc = static_cast<DeleterCtx*>(c);
        dc->deallocate(d, dc->index);
        delete dc;
      },
      ctx);
}

}  // namespace tessel
