// Device management, the allocator registration and host<->device copies.
// cudart is linked statically (CMake's default) and loads libcuda.so lazily,
// so without a driver libtessel still loads and is_available() says false.
#include "src/cuda/runtime.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/cuda/caching_allocator.h"
#include "tessel/cuda.h"
#include "tessel/error.h"
#include "tessel/storage.h"

namespace tessel::cuda {

namespace {
struct Devices {
  int count = 0;
  std::string reason;  // why there is none
};

const Devices& devices() {
  static const Devices d = [] {
    Devices r;
    int n = 0;
    const cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
      r.reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(rc);
      cudaGetLastError();  // clear the sticky error so later calls report their own
    } else if (n == 0) {
      r.reason = "no CUDA device was found";
    }
    r.count = rc == cudaSuccess ? n : 0;
    return r;
  }();
  return d;
}

class CudaBacking final : public BackingAllocator {
 public:
  explicit CudaBacking(int device) : device_(device) {}
  void* allocate(size_t nbytes) override {
    DeviceGuard g(device_);
    void* p = nullptr;
    const cudaError_t rc = cudaMalloc(&p, nbytes);
    if (rc == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    check(rc, "cuda");
    return p;
  }
  void release(void* p) override {
    DeviceGuard g(device_);
    check(cudaFree(p), "cuda");
  }
  void* record_event(void* stream) override {
    DeviceGuard g(device_);
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cuda");
    check(cudaEventRecord(e, static_cast<cudaStream_t>(stream)), "cuda");
    return e;
  }
  bool event_done(void* e) override {
    const cudaError_t rc = cudaEventQuery(static_cast<cudaEvent_t>(e));
    if (rc == cudaErrorNotReady) return cudaGetLastError(), false;
    check(rc, "cuda");
    return true;
  }
  void destroy_event(void* e) override { cudaEventDestroy(static_cast<cudaEvent_t>(e)); }

 private:
  int device_;
};

// One allocator per device, made on first use and never destroyed: tensors
// held by static objects may be freed after other statics are gone.
CachingAllocator& allocator(int device) {
  static std::mutex mu;
  static std::vector<CachingAllocator*>* all = new std::vector<CachingAllocator*>(devices().count, nullptr);
  std::lock_guard<std::mutex> lock(mu);
  CachingAllocator*& a = (*all)[static_cast<size_t>(device)];
  if (!a) a = new CachingAllocator(std::make_unique<CudaBacking>(device), "cuda:" + std::to_string(device));
  return *a;
}

void* allocate_hook(size_t nbytes, int index) {
  const int d = checked_device(index, "cuda");
  return allocator(d).allocate(nbytes, current_stream(d));
}
void deallocate_hook(void* p, int index) { allocator(index).free(p); }

// Pageable host memory: the copy is synchronous for the host anyway, and
// waiting on the stream orders it after the kernels that produced `src`.
void copy_to_host_hook(void* dst, const void* src, size_t n, int index) {
  if (n == 0) return;
  DeviceGuard g(index);
  cudaStream_t s = current_stream(index);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s), "copy");
  check(cudaStreamSynchronize(s), "copy");
}
void copy_from_host_hook(void* dst, const void* src, size_t n, int index) {
  if (n == 0) return;
  DeviceGuard g(index);
  cudaStream_t s = current_stream(index);
  check(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s), "copy");
  check(cudaStreamSynchronize(s), "copy");
}

const bool hooks_registered = [] {
  register_device_hooks(DeviceType::CUDA,
                        DeviceHooks{allocate_hook, deallocate_hook, copy_to_host_hook, copy_from_host_hook});
  return true;
}();
}  // namespace

void check(cudaError_t rc, const char* op) {
  if (rc != cudaSuccess) {
    cudaGetLastError();
    fail<Error>(op, "CUDA error: ", cudaGetErrorString(rc));
  }
}

int checked_device(int device, const char* op) {
  const Devices& d = devices();
  if (d.count == 0) fail<Error>(op, "no CUDA device is available (", d.reason, ")");
  if (device < 0) {
    int cur = 0;
    check(cudaGetDevice(&cur), op);
    return cur;
  }
  TS_CHECK(device < d.count, ValueError, op, "invalid CUDA device index ", device, ": ", d.count,
           " device(s) available");
  return device;
}

namespace {
// This thread's current stream per device (absent or null: the legacy default stream).
thread_local std::vector<cudaStream_t> tls_streams;

cudaStream_t as_stream(StreamHandle h) { return reinterpret_cast<cudaStream_t>(h); }
cudaEvent_t as_event(EventHandle h) {
  TS_CHECK(h != 0, ValueError, "cuda.Event", "the event was destroyed or never created");
  return reinterpret_cast<cudaEvent_t>(h);
}
bool done(cudaError_t rc, const char* op) {
  if (rc == cudaErrorNotReady) return cudaGetLastError(), false;
  check(rc, op);
  return true;
}
}  // namespace

cudaStream_t current_stream(int device) {
  return device >= 0 && static_cast<size_t>(device) < tls_streams.size() ? tls_streams[device] : nullptr;
}

StreamHandle stream_create(int device, int priority) {
  DeviceGuard g(checked_device(device, "cuda.Stream"));
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, priority), "cuda.Stream");
  return reinterpret_cast<StreamHandle>(s);
}
void stream_destroy(StreamHandle stream, int device) {
  if (stream == 0 || device_count() == 0) return;
  DeviceGuard g(device);
  cudaStreamDestroy(as_stream(stream));
}
StreamHandle current_stream_handle(int device) {
  return reinterpret_cast<StreamHandle>(current_stream(checked_device(device, "cuda.current_stream")));
}
void set_current_stream(StreamHandle stream, int device) {
  const int d = checked_device(device, "cuda.set_stream");
  if (tls_streams.size() <= static_cast<size_t>(d)) tls_streams.resize(static_cast<size_t>(device_count()), nullptr);
  tls_streams[static_cast<size_t>(d)] = as_stream(stream);
}
void stream_synchronize(StreamHandle stream, int device) {
  DeviceGuard g(checked_device(device, "cuda.Stream.synchronize"));
  check(cudaStreamSynchronize(as_stream(stream)), "cuda.Stream.synchronize");
}
bool stream_query(StreamHandle stream, int device) {
  DeviceGuard g(checked_device(device, "cuda.Stream.query"));
  return done(cudaStreamQuery(as_stream(stream)), "cuda.Stream.query");
}
void stream_wait_event(StreamHandle stream, EventHandle event, int device) {
  DeviceGuard g(checked_device(device, "cuda.Stream.wait_event"));
  check(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0), "cuda.Stream.wait_event");
}
std::pair<int, int> stream_priority_range(int device) {
  DeviceGuard g(checked_device(device, "cuda.Stream.priority_range"));
  int least = 0, greatest = 0;
  check(cudaDeviceGetStreamPriorityRange(&least, &greatest), "cuda.Stream.priority_range");
  return {least, greatest};
}

EventHandle event_create(int device, bool enable_timing, bool blocking) {
  DeviceGuard g(checked_device(device, "cuda.Event"));
  unsigned flags = (enable_timing ? 0u : cudaEventDisableTiming) | (blocking ? cudaEventBlockingSync : 0u);
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, flags), "cuda.Event");
  return reinterpret_cast<EventHandle>(e);
}
void event_destroy(EventHandle event, int device) {
  if (event == 0 || device_count() == 0) return;
  DeviceGuard g(device);
  cudaEventDestroy(as_event(event));
}
void event_record(EventHandle event, StreamHandle stream, int device) {
  DeviceGuard g(checked_device(device, "cuda.Event.record"));
  check(cudaEventRecord(as_event(event), as_stream(stream)), "cuda.Event.record");
}
void event_synchronize(EventHandle event, int device) {
  DeviceGuard g(checked_device(device, "cuda.Event.synchronize"));
  check(cudaEventSynchronize(as_event(event)), "cuda.Event.synchronize");
}
bool event_query(EventHandle event, int device) {
  DeviceGuard g(checked_device(device, "cuda.Event.query"));
  return done(cudaEventQuery(as_event(event)), "cuda.Event.query");
}
float event_elapsed_ms(EventHandle start, EventHandle end, int device) {
  DeviceGuard g(checked_device(device, "cuda.Event.elapsed_time"));
  float ms = 0;
  check(cudaEventElapsedTime(&ms, as_event(start), as_event(end)), "cuda.Event.elapsed_time");
  return ms;
}
void stream_wait_current(StreamHandle stream, int device) {
  const int d = checked_device(device, "cuda.stream_wait");
  cudaStream_t cur = current_stream(d), s = as_stream(stream);
  // Null and cudaStreamLegacy name the same stream.
  const auto canon = [](cudaStream_t x) { return x == cudaStreamLegacy ? nullptr : x; };
  if (canon(cur) == canon(s)) return;
  DeviceGuard g(d);
  cudaEvent_t e = nullptr;
  check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cuda.stream_wait");
  const cudaError_t rc1 = cudaEventRecord(e, cur);
  const cudaError_t rc2 = rc1 == cudaSuccess ? cudaStreamWaitEvent(s, e, 0) : rc1;
  cudaEventDestroy(e);  // safe: destruction waits for the recorded work internally
  check(rc2, "cuda.stream_wait");
}
void record_stream(void* ptr, StreamHandle stream, int device) {
  allocator(checked_device(device, "record_stream")).record_stream(ptr, as_stream(stream));
}

void* host_alloc_pinned(size_t nbytes) {
  checked_device(-1, "pin_memory");
  void* p = nullptr;
  check(cudaHostAlloc(&p, nbytes ? nbytes : 1, cudaHostAllocPortable), "pin_memory");
  return p;
}
void host_free_pinned(void* ptr) {
  if (ptr) cudaFreeHost(ptr);
}
bool is_pinned(const void* ptr) {
  if (!ptr || device_count() == 0) return false;
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, ptr) != cudaSuccess) return cudaGetLastError(), false;
  return a.type == cudaMemoryTypeHost;
}

DeviceGuard::DeviceGuard(int device) {
  int cur = 0;
  check(cudaGetDevice(&cur), "cuda");
  if (cur != device) {
    check(cudaSetDevice(device), "cuda");
    prev_ = cur;
  }
}
DeviceGuard::~DeviceGuard() {
  if (prev_ >= 0) cudaSetDevice(prev_);
}

bool is_compiled() { return hooks_registered; }
std::string version() { return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10); }
bool is_available() { return devices().count > 0; }
int device_count() { return devices().count; }
std::string unavailable_reason() { return devices().reason; }

int current_device() { return checked_device(-1, "cuda.current_device"); }

void set_device(int device) {
  TS_CHECK(device >= 0, ValueError, "cuda.set_device", "invalid CUDA device index ", device);
  check(cudaSetDevice(checked_device(device, "cuda.set_device")), "cuda.set_device");
}

void synchronize(int device) {
  DeviceGuard g(checked_device(device, "cuda.synchronize"));
  check(cudaDeviceSynchronize(), "cuda.synchronize");
}

std::string device_name(int device) {
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, checked_device(device, "cuda.get_device_name")), "cuda.get_device_name");
  return p.name;
}

size_t memory_allocated(int device) { return allocator(checked_device(device, "cuda.memory_allocated")).stats().allocated; }
size_t max_memory_allocated(int device) {
  return allocator(checked_device(device, "cuda.max_memory_allocated")).stats().max_allocated;
}
size_t memory_reserved(int device) { return allocator(checked_device(device, "cuda.memory_reserved")).stats().reserved; }
size_t max_memory_reserved(int device) {
  return allocator(checked_device(device, "cuda.max_memory_reserved")).stats().max_reserved;
}
void reset_peak_memory_stats(int device) {
  allocator(checked_device(device, "cuda.reset_peak_memory_stats")).reset_peak_stats();
}
void empty_cache() {
  for (int d = 0; d < device_count(); ++d) allocator(d).empty_cache();
}
void set_memory_cap(size_t bytes, int device) {
  allocator(checked_device(device, "cuda.set_memory_cap")).set_cap(bytes);
}

}  // namespace tessel::cuda
