#pragma once
// The one strided iterator behind CPU elementwise and reduction kernels.
// It drops size-1 dims, orders dims by the first operand's strides, merges
// dims that are contiguous for every operand, and hands the innermost run to
// `f(char** ptrs, const int64_t* strides, int64_t n)` (byte strides).
#include <omp.h>

#include <cstring>
#include <type_traits>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>

#include "tessel/tensor.h"

namespace tessel::cpu {

// A kernel tensor's data as T (const for inputs, mutable for outputs).
template <class T>
const T* cptr(const Tensor& t) {
  return static_cast<const T*>(t.data_ptr());
}
template <class T>
T* mptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

// Below this many elements a loop runs on the calling thread: thread start-up
// costs more than the work.
inline constexpr int64_t kGrainSize = 32768;

// The loop body: f(ctx, ptrs, byte strides, n) over one contiguous run.
using LoopFn = void (*)(void* ctx, char** ptrs, const int64_t* strides, int64_t n);

// Defined once per operand count in loops.cpp (N = 1..4): the iterator itself
// is not a template on the loop body, which keeps kernel files quick to build.
// `cost` is the work per element in element-ops (a reduction over a run of
// length k costs k), so that threads start only when the total work pays.
template <int N>
void for_each_impl(const std::array<const Tensor*, N>& ts, LoopFn fn, void* ctx, bool parallel, int64_t cost = 1);

inline int threads_for(int64_t work) {
  if (work < kGrainSize) return 1;
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), work / kGrainSize));
}

template <class F>
void call_loop(void* ctx, char** p, const int64_t* s, int64_t n) {
  (*static_cast<F*>(ctx))(p, s, n);
}

// Elementwise loop over tensors of one shape (operand 0 is the output).
template <int N, class F>
void for_each(const std::array<const Tensor*, N>& ts, F&& f, int64_t cost = 1) {
  using Fn = std::remove_reference_t<F>;
  for_each_impl<N>(ts, &call_loop<Fn>, const_cast<void*>(static_cast<const void*>(&f)), true, cost);
}

// Same, always on the calling thread (reductions that accumulate into out).
template <int N, class F>
void for_each_serial(const std::array<const Tensor*, N>& ts, F&& f) {
  using Fn = std::remove_reference_t<F>;
  for_each_impl<N>(ts, &call_loop<Fn>, const_cast<void*>(static_cast<const void*>(&f)), false);
}

// m ? a : b without a branch: data-dependent branches (masks, signs, window
// maxima) mispredict half the time on random data and cost ~5 ns each.
template <class T>
inline T select(bool m, T a, T b) {
  if constexpr (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8) {
    using U = std::conditional_t<sizeof(T) == 1, uint8_t,
                                 std::conditional_t<sizeof(T) == 2, uint16_t,
                                                    std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
    U ua, ub;
    std::memcpy(&ua, &a, sizeof(T));
    std::memcpy(&ub, &b, sizeof(T));
    const U mask = static_cast<U>(-static_cast<U>(m));
    const U r = static_cast<U>((ua & mask) | (ub & static_cast<U>(~mask)));
    T out;
    std::memcpy(static_cast<void*>(&out), &r, sizeof(T));  // Half/BFloat16/complex: trivially copyable bits
    return out;
  } else {
    return m ? a : b;
  }
}

// f(i) for i in [0, n): on the OpenMP team when `parallel`, else a plain loop that
// never enters an OpenMP region. `#pragma omp parallel for if (false)` is not free:
// libgomp still sets up a team (an aligned allocation and a futex call, about 1 us,
// more than a small op's whole work).
template <class F>
void for_each_index(int64_t n, bool parallel, F&& f) {
  if (parallel && n > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

// parallel_for over [0, n) in contiguous chunks, serial for small n.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  const int nt = threads_for(n * std::max<int64_t>(cost_per_item, 1));
  if (nt <= 1 || n < 2) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(std::min<int64_t>(nt, n))
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    f(n * t / T, n * (t + 1) / T);
  }
}

}  // namespace tessel::cpu
