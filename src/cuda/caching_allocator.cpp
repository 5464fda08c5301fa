#include "src/cuda/caching_allocator.h"

#include <algorithm>
#include <cstdio>

#include "tessel/error.h"

namespace tessel::cuda {

namespace {
std::string mib(size_t bytes) {
  const double m = static_cast<double>(bytes) / double(1 << 20);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", m);
  return buf;
}
}  // namespace

CachingAllocator::CachingAllocator(std::unique_ptr<BackingAllocator> backing, std::string device)
    : backing_(std::move(backing)), device_(std::move(device)) {}

// Blocks still handed out at exit belong to tensors that outlive the allocator
// (static tensors): they are not released, as the device is going away anyway.
CachingAllocator::~CachingAllocator() {
  for (const Pending& q : pending_)
    for (void* e : q.events) backing_->destroy_event(e);
  release_cached();
}

size_t CachingAllocator::round_size(size_t nbytes) {
  if (nbytes < kLargeThreshold) return std::max<size_t>(1, (nbytes + kSmallRound - 1) / kSmallRound) * kSmallRound;
  return (nbytes + kLargeRound - 1) / kLargeRound * kLargeRound;
}

void* CachingAllocator::take_cached(size_t size, void* stream) {
  auto it = free_by_size_.lower_bound({stream, size, nullptr});
  if (it == free_by_size_.end() || std::get<0>(*it) != stream) return nullptr;
  const size_t have = std::get<1>(*it);
  // Best fit, within a bound on the waste: a small request never takes a large block.
  const bool fits = size < kLargeThreshold ? have < kLargeThreshold && have <= 2 * size : have - size <= size / 4;
  if (!fits) return nullptr;
  void* p = std::get<2>(*it);
  free_by_size_.erase(it);
  cached_.erase(p);
  return p;
}

void CachingAllocator::cache(void* p, const Block& b) {
  cached_.emplace(p, Block{b.size, b.stream, {}});
  free_by_size_.insert({b.stream, b.size, p});
}

// Moves pending blocks whose other-stream work has completed into the cache.
void CachingAllocator::collect_pending() {
  for (size_t i = 0; i < pending_.size();) {
    Pending& q = pending_[i];
    while (!q.events.empty() && backing_->event_done(q.events.back())) {
      backing_->destroy_event(q.events.back());
      q.events.pop_back();
    }
    if (!q.events.empty()) {
      ++i;
      continue;
    }
    cache(q.ptr, q.block);
    pending_[i] = std::move(pending_.back());
    pending_.pop_back();
  }
  stats_.num_pending = pending_.size();
}

void CachingAllocator::release_cached() {
  for (const auto& [p, b] : cached_) {
    backing_->release(p);
    stats_.reserved -= b.size;
    ++stats_.num_releases;
  }
  cached_.clear();
  free_by_size_.clear();
}

void CachingAllocator::out_of_memory(size_t nbytes, const char* why) const {
  fail<Error>("cuda", "out of memory: tried to allocate ", mib(nbytes), " on ", device_, " (", why, "; ",
              mib(stats_.allocated), " allocated, ", mib(stats_.reserved), " reserved",
              stats_.cap ? ", cap " + mib(stats_.cap) : std::string(), ")");
}

void* CachingAllocator::allocate(size_t nbytes, void* stream) {
  const size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.num_allocs;
  if (!pending_.empty()) collect_pending();
  void* p = take_cached(size, stream);
  if (!p) {
    if (stats_.cap && stats_.reserved + size > stats_.cap) release_cached();
    if (stats_.cap && stats_.reserved + size > stats_.cap) out_of_memory(nbytes, "the memory cap is reached");
    p = backing_->allocate(size);
    if (!p && !cached_.empty()) {  // cached blocks of other sizes or streams may be what is missing
      release_cached();
      p = backing_->allocate(size);
    }
    if (!p) out_of_memory(nbytes, "the device has no more free memory");
    ++stats_.num_backing_allocs;
    stats_.reserved += size;
    stats_.max_reserved = std::max(stats_.max_reserved, stats_.reserved);
  }
  in_use_.emplace(p, Block{size, stream, {}});
  stats_.allocated += size;
  stats_.max_allocated = std::max(stats_.max_allocated, stats_.allocated);
  return p;
}

void CachingAllocator::free(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  TS_CHECK(it != in_use_.end(), Error, "cuda", "freeing a pointer that ", device_, "'s allocator did not hand out");
  const Block b = it->second;
  in_use_.erase(it);
  stats_.allocated -= b.size;
  if (b.used_on.empty()) return cache(p, b);
  Pending q{p, b, {}};
  for (void* s : b.used_on) q.events.push_back(backing_->record_event(s));
  pending_.push_back(std::move(q));
  stats_.num_pending = pending_.size();
}

void CachingAllocator::record_stream(void* p, void* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  TS_CHECK(it != in_use_.end(), ValueError, "record_stream", "the pointer is not a block ", device_,
           "'s allocator handed out (a view's storage must be the tensor's own)");
  if (stream != it->second.stream) it->second.used_on.insert(stream);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  collect_pending();
  release_cached();
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.max_allocated = stats_.allocated;
  stats_.max_reserved = stats_.reserved;
}

void CachingAllocator::set_cap(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.cap = bytes;
}

}  // namespace tessel::cuda
