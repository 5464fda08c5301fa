#pragma once
// The CUDA runtime as tessel sees it: devices, the current device, and the
// caching allocator's statistics (src/cuda/). Every function works in a build
// without CUDA or on a machine without a driver: is_available() is false,
// device_count() is 0 and the rest raise "[cuda] ... not available" errors
// that say why. Device indices of -1 mean the current device.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "tessel/export.h"

namespace tessel::cuda {

TESSEL_API bool is_compiled();       // built with TESSEL_WITH_CUDA
TESSEL_API std::string version();    // the CUDA toolkit built against ("13.0"), "" without CUDA
TESSEL_API bool is_available();      // compiled and at least one device usable
TESSEL_API int device_count();       // 0 without a driver or device
TESSEL_API std::string unavailable_reason();  // "" when available
TESSEL_API int current_device();
TESSEL_API void set_device(int device);
// Waits for all work queued on the device's current stream.
TESSEL_API void synchronize(int device = -1);
TESSEL_API std::string device_name(int device = -1);

TESSEL_API size_t memory_allocated(int device = -1);
TESSEL_API size_t max_memory_allocated(int device = -1);
TESSEL_API size_t memory_reserved(int device = -1);
TESSEL_API size_t max_memory_reserved(int device = -1);
TESSEL_API void reset_peak_memory_stats(int device = -1);
// Releases cached blocks of every device back to the driver.
TESSEL_API void empty_cache();
// Caps the bytes the allocator may hold on a device (0: no cap).
TESSEL_API void set_memory_cap(size_t bytes, int device = -1);

// TF32 for float32 products (ts.backends.cuda.matmul.allow_tf32) and
// convolutions (ts.backends.cudnn.allow_tf32). Both off by default: float32
// stays float32 unless asked (PyTorch turns the cuDNN one on by default).
// Process-wide; plain flags in a build without CUDA.
TESSEL_API void set_matmul_allow_tf32(bool allow);
TESSEL_API bool matmul_allow_tf32();
TESSEL_API void set_cudnn_allow_tf32(bool allow);
TESSEL_API bool cudnn_allow_tf32();
// cuDNN's version (cudnnGetVersion, e.g. 91300) once it loads; 0 when it cannot
// be loaded or the build has no CUDA.
TESSEL_API int cudnn_version();

// Streams and events are opaque handles (a cudaStream_t / cudaEvent_t as an
// integer, as PyTorch's cuda_stream); stream 0 is the legacy default stream.
// Work and allocations for a device go to this thread's current stream of it.
using StreamHandle = std::uintptr_t;
using EventHandle = std::uintptr_t;
// A non-blocking stream on `device` (priority: lower is higher, 0 the default).
TESSEL_API StreamHandle stream_create(int device = -1, int priority = 0);
TESSEL_API void stream_destroy(StreamHandle stream, int device);
TESSEL_API StreamHandle current_stream_handle(int device = -1);
TESSEL_API void set_current_stream(StreamHandle stream, int device = -1);
TESSEL_API void stream_synchronize(StreamHandle stream, int device);
TESSEL_API bool stream_query(StreamHandle stream, int device);  // all its work is done
TESSEL_API void stream_wait_event(StreamHandle stream, EventHandle event, int device);
// (least, greatest) priority: e.g. (0, -5); numerically lower is higher.
TESSEL_API std::pair<int, int> stream_priority_range(int device = -1);
TESSEL_API EventHandle event_create(int device, bool enable_timing, bool blocking);
TESSEL_API void event_destroy(EventHandle event, int device);
TESSEL_API void event_record(EventHandle event, StreamHandle stream, int device);
TESSEL_API void event_synchronize(EventHandle event, int device);
TESSEL_API bool event_query(EventHandle event, int device);  // the work before the record is done
// Milliseconds between two recorded timing events.
TESSEL_API float event_elapsed_ms(EventHandle start, EventHandle end, int device);
// Makes later work on `stream` wait for the work queued so far on this
// thread's current stream of `device` (nothing when they are the same).
TESSEL_API void stream_wait_current(StreamHandle stream, int device);
// Tells the allocator that the block at `ptr` (a CUDA tensor's storage) is
// used on `stream` too: when freed, it is reused only after that work is done.
TESSEL_API void record_stream(void* ptr, StreamHandle stream, int device);

// Page-locked host memory (cudaHostAlloc): copies from and to it can run
// asynchronously. is_pinned is false for other memory and without a driver.
TESSEL_API void* host_alloc_pinned(size_t nbytes);
TESSEL_API void host_free_pinned(void* ptr);
TESSEL_API bool is_pinned(const void* ptr);

}  // namespace tessel::cuda
