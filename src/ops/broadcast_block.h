#pragma once
// An input broadcast over its leading dims (a row expanded to [B, n], a scalar to
// any shape) has one distinct block: an op whose result along the trailing dims
// depends on those dims alone runs on that block once, into the output's first
// block, which is then copied over the rest (the kernel would compute the same
// values B times, one short run at a time). Unary ops, clamp, sort, rms_norm
// and the elementwise kernels Python calls by name (_C._call_plain) take this path.
#include <optional>

#include "tessel/tensor.h"

namespace tessel::detail {

struct BroadcastBlock {
  Tensor block;       // x's distinct trailing block: dims [first_dim, x.dim()) of x, x's strides
  int64_t first_dim;  // the block's first dim in x; the dims before it have stride 0 or size 1
  int64_t outer;      // how many times the block repeats (at least 2)
};

// x's distinct block, when x is a CPU tensor broadcast over its leading dims.
TESSEL_API std::optional<BroadcastBlock> broadcast_block(const Tensor& x);

// The first block (of the given trailing shape) of a contiguous tensor, to write into.
TESSEL_API Tensor first_block(const Tensor& out, const Shape& block);

// Copies the first of `outer` equal-sized blocks of a contiguous tensor over the rest.
TESSEL_API void repeat_first_block(const Tensor& out, int64_t outer);

}  // namespace tessel::detail
