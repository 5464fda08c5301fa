#include "src/ops/broadcast_block.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/loops.h"
#include "src/core/shape_util.h"

namespace tessel::detail {

std::optional<BroadcastBlock> broadcast_block(const Tensor& x) {
  if (!x.device().is_cpu() || x.is_contiguous() || x.numel() < 2) return std::nullopt;
  const int64_t nd = x.dim();
  int64_t k = nd, inner = 1;  // dims [k, nd) contiguous in x
  while (k > 0 && (x.shape()[k - 1] == 1 || x.strides()[k - 1] == inner)) inner *= x.shape()[--k];
  int64_t outer = 1;
  for (int64_t d = 0; d < k; ++d) {
    if (x.shape()[d] != 1 && x.strides()[d] != 0) return std::nullopt;
    outer *= x.shape()[d];
  }
  if (outer < 2) return std::nullopt;
  const Shape block(x.shape().begin() + k, x.shape().end());
  const Shape st(x.strides().begin() + k, x.strides().end());
  // Detached: the callers compute into outputs their own derivative rules cover.
  return BroadcastBlock{x.detach().as_strided(block, st, x.offset()), k, outer};
}

Tensor first_block(const Tensor& out, const Shape& block) {
  return out.as_strided(block, contiguous_strides(block), out.offset());
}

void repeat_first_block(const Tensor& out, int64_t outer) {
  // Doubling copies until a chunk of blocks reaches ~8 KiB, then that chunk (read
  // from L1) repeated: doubling to the end would read its sources back from L2.
  auto* base = static_cast<char*>(out.data_ptr());
  const size_t bytes = static_cast<size_t>(out.numel() / std::max<int64_t>(outer, 1)) * itemsize(out.dtype());
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(8192 / std::max<size_t>(bytes, 1)));
  int64_t filled = 1;
  for (; filled < std::min(chunk, outer); filled *= 2)
    std::memcpy(base + filled * bytes, base, static_cast<size_t>(std::min(filled, outer - filled)) * bytes);
  const int64_t step = std::min(filled, outer);
  // The remaining chunks over the threads (a write-bound copy: neg of a broadcast [1, 4000]
  // bfloat16 row to [2500, 4000] on 2 threads, 1.3 ms serial against PyTorch's 0.4)
  const int64_t chunks = (outer - step + step - 1) / step;
  // Each thread copies the first chunk once and then from its own copy, which
  // stays in its core's L1 (read from the first thread's core every time, the
  // copy ran no faster on two threads than on one).
  cpu::parallel_for(chunks, static_cast<int64_t>(step * bytes) / 4, [&](int64_t lo, int64_t hi) {
    const char* src = base;
    for (int64_t c = lo; c < hi; ++c) {
      const int64_t at = step + c * step, n = std::min(step, outer - at);
      std::memcpy(base + at * bytes, src, static_cast<size_t>(n) * bytes);
      if (n == step) src = base + at * bytes;
    }
  });
}

}  // namespace tessel::detail
