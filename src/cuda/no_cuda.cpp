// tessel built without CUDA (TESSEL_WITH_CUDA=OFF): nothing is available and
// every call that needs a device says why.
#include "tessel/cuda.h"
#include "tessel/error.h"

namespace tessel::cuda {

namespace {
[[noreturn]] void unavailable(const char* op) {
  fail<Error>(op, "tessel was built without CUDA (TESSEL_WITH_CUDA=OFF)");
}
}  // namespace

bool is_compiled() { return false; }
int cudnn_version() { return 0; }
std::string version() { return ""; }
bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "tessel was built without CUDA (TESSEL_WITH_CUDA=OFF)"; }
int current_device() { unavailable("cuda.current_device"); }
void set_device(int) { unavailable("cuda.set_device"); }
void synchronize(int) { unavailable("cuda.synchronize"); }
std::string device_name(int) { unavailable("cuda.get_device_name"); }
size_t memory_allocated(int) { unavailable("cuda.memory_allocated"); }
size_t max_memory_allocated(int) { unavailable("cuda.max_memory_allocated"); }
size_t memory_reserved(int) { unavailable("cuda.memory_reserved"); }
size_t max_memory_reserved(int) { unavailable("cuda.max_memory_reserved"); }
void reset_peak_memory_stats(int) { unavailable("cuda.reset_peak_memory_stats"); }
void empty_cache() {}
void set_memory_cap(size_t, int) { unavailable("cuda.set_memory_cap"); }
StreamHandle stream_create(int, int) { unavailable("cuda.Stream"); }
void stream_destroy(StreamHandle, int) {}
StreamHandle current_stream_handle(int) { unavailable("cuda.current_stream"); }
void set_current_stream(StreamHandle, int) { unavailable("cuda.set_stream"); }
void stream_synchronize(StreamHandle, int) { unavailable("cuda.Stream.synchronize"); }
bool stream_query(StreamHandle, int) { unavailable("cuda.Stream.query"); }
void stream_wait_event(StreamHandle, EventHandle, int) { unavailable("cuda.Stream.wait_event"); }
std::pair<int, int> stream_priority_range(int) { unavailable("cuda.Stream.priority_range"); }
EventHandle event_create(int, bool, bool) { unavailable("cuda.Event"); }
void event_destroy(EventHandle, int) {}
void event_record(EventHandle, StreamHandle, int) { unavailable("cuda.Event.record"); }
void event_synchronize(EventHandle, int) { unavailable("cuda.Event.synchronize"); }
bool event_query(EventHandle, int) { unavailable("cuda.Event.query"); }
float event_elapsed_ms(EventHandle, EventHandle, int) { unavailable("cuda.Event.elapsed_time"); }
void stream_wait_current(StreamHandle, int) { unavailable("cuda.stream_wait"); }
void record_stream(void*, StreamHandle, int) { unavailable("record_stream"); }
void* host_alloc_pinned(size_t) { unavailable("pin_memory"); }
void host_free_pinned(void*) {}
bool is_pinned(const void*) { return false; }

}  // namespace tessel::cuda
