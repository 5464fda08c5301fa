#pragma once
// Launch functions of kernels/cuda/nn.cu (softmax, optimizer steps, offset
// gathers/scatters), apart from launch.h so that adding them recompiles only
// nn.cu. Plain structs only, as launch.h.
#include "kernels/cuda/launch.h"

namespace tessel::cuda {

// Rows along one dim: `rows` walks out (operand 0) and in (operand 1) with the
// dim narrowed to 1; len elements per row, byte strides so/sa along the dim.
bool launch_softmax(bool log, int dtype, const Layout<2>& rows, int64_t len, int64_t so, int64_t sa,
                    cudaStream_t s);

// max_dim/min_dim: values and the first index of the extreme along a dim (NaN
// wins, the first NaN stays). `rows` walks values, indices and the input with
// the dim narrowed to 1; len elements, byte step along the dim.
bool launch_extreme_dim(bool is_max, int dtype, const Layout<3>& rows, int64_t len, int64_t step, cudaStream_t s);

// sort of R rows of L contiguous elements (keys, dtype) into padded rows of P
// (a power of two >= L) in scratch (keys: P * itemsize, idx: P int64 per row),
// then values/indices as R x L contiguous: a bitonic network over (key, index)
// pairs, so the order is the CPU's stable one (NaN largest).
bool launch_sort(int dtype, bool descending, const void* in, void* keys, int64_t* idx, void* values,
                 int64_t* indices, int64_t rows, int64_t len, int64_t padded, cudaStream_t s);

// Optimizer steps over n contiguous elements, PyTorch's update equations
// (kernels/cpu/optim.cpp); the host precomputes the scalars.
struct SgdArgs {
  double lr, wd, mom, damp, sign, first, nest;
  bool momentum;
};
struct AdamArgs {
  double b1, b2, eps, sign, step_size, inv_sqrt_bc2, wd, decay;
  bool amsgrad;
};
struct RmspropArgs {
  double lr, wd, alpha, eps, mom, sign;
  bool momentum, centered;
};
bool launch_sgd(int dtype, const SgdArgs& a, const void* g, void* p, void* buf, int64_t n, cudaStream_t s);
// buf (momentum) and gavg (centered) are null when their option is off.
bool launch_rmsprop(int dtype, const RmspropArgs& a, const void* g, void* p, void* sq, void* buf, void* gavg,
                    int64_t n, cudaStream_t s);
bool launch_adam(int dtype, const AdamArgs& a, const void* g, void* p, void* m, void* v, void* vmax, int64_t n,
                 cudaStream_t s);

// take: out[i] = src[off[i]] (operands out, offsets); put: dst[off[i]] = values[i]
// (operands values, offsets), add: += with atomics. Elements of `itemsize` bytes
// for take/put; put_add by dtype.
bool launch_take(int itemsize, const void* src, const Layout<2>& L, cudaStream_t s);
bool launch_put(int itemsize, void* dst, const Layout<2>& L, cudaStream_t s);
bool launch_put_add(int dtype, void* dst, const Layout<2>& L, cudaStream_t s);

// arange into n contiguous elements: start + i * step in int64 for integer
// dtypes, in double for float ones (the CPU's rule).
bool launch_arange(int dtype, int64_t start_i, int64_t step_i, double start_d, double step_d, void* out, int64_t n,
                   cudaStream_t s);

// uniform, normal, randint into n contiguous elements: element i from
// Philox4x32-10 at counter offset + i, the CPU's generator and formulas
// (kernels/cpu/random.cpp), so uniform and randint give the CPU's bits for a
// seed and normal the same values up to the last bits of log/cos.
enum class Random : int { uniform, normal, randint };
struct RandomArgs {
  uint64_t seed, offset;
  double a, b;
  int64_t low, high;
};
bool launch_random(Random kind, int dtype, const RandomArgs& r, void* out, int64_t n, cudaStream_t s);

}  // namespace tessel::cuda
