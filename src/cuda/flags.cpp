// Process-wide CUDA math flags (tessel/cuda.h), in every build: the Python
// flags read and write them with or without CUDA compiled in.
#include <atomic>

#include "tessel/cuda.h"

namespace tessel::cuda {
namespace {
std::atomic<bool> g_matmul_tf32{false}, g_cudnn_tf32{false};
}  // namespace

void set_matmul_allow_tf32(bool allow) { g_matmul_tf32.store(allow, std::memory_order_relaxed); }
bool matmul_allow_tf32() { return g_matmul_tf32.load(std::memory_order_relaxed); }
void set_cudnn_allow_tf32(bool allow) { g_cudnn_tf32.store(allow, std::memory_order_relaxed); }
bool cudnn_allow_tf32() { return g_cudnn_tf32.load(std::memory_order_relaxed); }

}  // namespace tessel::cuda
