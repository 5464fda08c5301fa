// CPU kernels for sum, prod, amax and amin (max_dim and min_dim: reduce_index.cpp).
// Contract (kernel.h): out has the keepdim shape; reduced dims are where out has size 1.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduce_lanes.h"
#include "kernels/cpu/reduce_util.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"
#include "src/core/shape_util.h"
#include "tessel/autograd.h"
#include "tessel/cast.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"

namespace tessel::cpu {
namespace {

template <class T>
using sum_acc_t = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;

// Splits a's dims into kept and reduced (by out's size-1 dims).
struct Split {
  Shape kept_sizes, kept_strides, red_sizes, red_strides;
};
Split split_dims(const Tensor& a, const Tensor& out) {
  Split s;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (out.shape()[d] == 1 && a.shape()[d] != 1) {
      s.red_sizes.push_back(a.shape()[d]);
      s.red_strides.push_back(a.strides()[d]);
    } else {
      s.kept_sizes.push_back(a.shape()[d]);
      s.kept_strides.push_back(a.strides()[d]);
    }
  }
  return s;
}

// True when the reduced dims form one contiguous run (row-major, unit stride).
bool inner_contiguous(const Split& s, int64_t& run) {
  run = 1;
  for (size_t i = s.red_sizes.size(); i-- > 0;) {
    if (s.red_strides[i] != run) return false;
    run *= s.red_sizes[i];
  }
  return true;
}

// A view of out whose kept dims line up with `kept_sizes` (out is contiguous).
Tensor out_kept_view(const Tensor& out, const Split& s) {
  return out.as_strided(s.kept_sizes, contiguous_strides(s.kept_sizes), out.offset());
}

// Reduces a contiguous run of n elements starting at x.
template <class T, class A, class Reduce>
void reduce_runs(const Tensor& a, const Tensor& out, const Split& s, int64_t run, Reduce reduce) {
  using O = typename Reduce::Out;
  const Tensor ov = out_kept_view(out, s);
  const Tensor av = a.as_strided(s.kept_sizes, s.kept_strides, a.offset());
  if (ov.numel() == 1) {
    // One output: fixed-size chunks (not per-thread ones) keep the result
    // independent of the thread count.
    constexpr int64_t kChunk = 1 << 16;
    const T* x = static_cast<const T*>(a.data_ptr());
    const int64_t nchunks = (run + kChunk - 1) / kChunk;
    std::unique_ptr<A[]> part(new A[static_cast<size_t>(std::max<int64_t>(nchunks, 1))]);  // A may be bool
    parallel_for(nchunks, kChunk, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) part[c] = reduce(x + c * kChunk, std::min(kChunk, run - c * kChunk));
    });
    A total = nchunks ? reduce.combine(part.get(), nchunks) : reduce.identity();
    *static_cast<O*>(out.data_ptr()) = cast_value<O>(total);
    return;
  }
  for_each<2>({&ov, &av}, [&](char** p, const int64_t* st, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const T* x = reinterpret_cast<const T*>(p[1] + i * st[1]);
      *reinterpret_cast<O*>(p[0] + i * st[0]) = cast_value<O>(reduce(x, run));
    }
  }, run);
}

// General case: accumulate into a stride-0 view of an accumulator, ordered by a's strides.
template <class T, class A, class Step>
void reduce_general(const Tensor& a, const Tensor& out, A init, Step step) {
  Tensor acc = full(out.shape(), Scalar(0), TensorOptions(dtype_v<A>));
  acc.fill_(Scalar(init));
  Shape st = acc.strides();
  for (int64_t d = 0; d < a.dim(); ++d)
    if (out.shape()[d] == 1) st[d] = 0;
  const Tensor accv = acc.as_strided(a.shape(), st, 0);
  for_each_serial<2>({&a, &accv}, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      A& r = *reinterpret_cast<A*>(p[1] + i * s[1]);
      r = step(r, A(*reinterpret_cast<const T*>(p[0] + i * s[0])));
    }
  });
  Tensor o = out;
  o.copy_(acc);
}

template <class T>
struct SumRun {
  using A = sum_acc_t<T>;
  using Out = std::conditional_t<std::is_integral_v<T>, int64_t, T>;
  A operator()(const T* x, int64_t n) const { return pairwise_sum<A>(x, n); }
  A combine(const A* p, int64_t n) const { return pairwise_sum<A>(p, n); }
  A identity() const { return A(0); }
};

// The same into another output dtype (float16/bfloat16 summed into float32: mean's sum).
template <class T, class O>
struct SumRunTo : SumRun<T> {
  using Out = O;
};

template <class T, class O = T>
struct SumSqRun {
  using A = acc_t<T>;
  using Out = O;
  A operator()(const T* x, int64_t n) const { return pairwise_sumsq<A>(x, n); }
  A combine(const A* p, int64_t n) const { return pairwise_sum<A>(p, n); }
  A identity() const { return A(0); }
};

template <class T>
struct ProdRun {
  using A = sum_acc_t<T>;
  using Out = std::conditional_t<std::is_integral_v<T>, int64_t, T>;
  A operator()(const T* x, int64_t n) const {
    if constexpr (lanes_v<T>) return fold_lanes(x, n, T(1), MulOp{});
    if constexpr (std::is_same_v<T, BFloat16>) return fold_lanes(x, n, 1.0f, MulOp{});
    A r = A(1);
    for (int64_t i = 0; i < n; ++i) r *= A(x[i]);
    return r;
  }
  A combine(const A* p, int64_t n) const {
    A r = A(1);
    for (int64_t i = 0; i < n; ++i) r *= p[i];
    return r;
  }
  A identity() const { return A(1); }
};

template <class T>
struct ExtremeRun {
  using A = acc_t<T>;
  using Out = T;
  bool is_max;
  A operator()(const T* x, int64_t n) const {
    if constexpr (lanes_v<T>) {
      return is_max ? fold_lanes(x, n, -std::numeric_limits<T>::infinity(), MaxOp{})
                    : fold_lanes(x, n, std::numeric_limits<T>::infinity(), MinOp{});
    }
    if constexpr (std::is_same_v<T, BFloat16>)
      return is_max ? fold_lanes(x, n, -INFINITY, MaxOp{}) : fold_lanes(x, n, INFINITY, MinOp{});
    if constexpr (std::is_same_v<T, bool>) {  // any / all: an OR / AND of the bytes (0 or 1), vectorized
      const auto* b = reinterpret_cast<const unsigned char*>(x);
      unsigned char r = is_max ? 0 : 1;
      if (is_max) {
        for (int64_t i = 0; i < n; ++i) r |= b[i];
      } else {
        for (int64_t i = 0; i < n; ++i) r &= b[i];
      }
      return r != 0;
    } else if constexpr (std::is_integral_v<T>) {  // no NaN: max / min, which vectorize
      A best = A(x[0]);
      if (is_max) {
        for (int64_t i = 1; i < n; ++i) best = std::max(best, A(x[i]));
      } else {
        for (int64_t i = 1; i < n; ++i) best = std::min(best, A(x[i]));
      }
      return best;
    } else {
      A best = A(x[0]);
      for (int64_t i = 1; i < n; ++i)
        if (better(A(x[i]), best, is_max)) best = A(x[i]);
      return best;
    }
  }
  A combine(const A* p, int64_t n) const {
    A best = p[0];
    for (int64_t i = 1; i < n; ++i)
      if (better(p[i], best, is_max)) best = p[i];
    return best;
  }
  A identity() const { return A(0); }
};

// sum and prod: contiguous runs use Run (pairwise for sums), other layouts
// fold with `step` from Run's identity.
template <class T, class Run, class Step>
void fold_kernel(const KernelCall& c, Run reduce, Step step) {
  using A = typename Run::A;
  const Tensor &a = c.in[0], &out = c.out[0];
  const Split s = split_dims(a, out);
  int64_t run;
  if (inner_contiguous(s, run)) return reduce_runs<T, A>(a, out, s, run, reduce);
  reduce_general<T, A>(a, out, reduce.identity(), step);
}

// acc[0, width) += the sum of rows x[r * stride + i], r < rows: row by row
// (fold_rows: columns in registers), pairwise over halves of the rows past 64 of them.
// bfloat16 rows are read eight values at a time into float lanes, float16 rows
// widened a strip of kReducedBlock columns at a time; both add into float.
template <class A, class T>
TESSEL_CLONES void add_rows(A* acc, const T* x, int64_t rows, int64_t width, int64_t stride) {
  if (rows <= 64) {
    if constexpr (std::is_same_v<T, BFloat16>) {  // fold_rows' order: 32 columns in registers down the rows
      int64_t i = 0;
      for (; i + 32 <= width; i += 32) {
        F8 a[4];
        zip16(acc + i, a[0], a[1]);
        zip16(acc + i + 16, a[2], a[3]);
        for (int64_t r = 0; r < rows; ++r) {
          F8 v[4];
          load_bf16x16(x + r * stride + i, v[0], v[1]);
          load_bf16x16(x + r * stride + i + 16, v[2], v[3]);
          for (int j = 0; j < 4; ++j) a[j] += v[j];
        }
        unzip16(acc + i, a[0], a[1]);
        unzip16(acc + i + 16, a[2], a[3]);
      }
      for (; i + 8 <= width; i += 8) {
        F8 a;
        std::memcpy(&a, acc + i, sizeof(a));
        for (int64_t r = 0; r < rows; ++r) a += load_bf16x8(x + r * stride + i);
        std::memcpy(acc + i, &a, sizeof(a));
      }
      for (; i < width; ++i)
        for (int64_t r = 0; r < rows; ++r) acc[i] += static_cast<float>(x[r * stride + i]);
      return;
    }
    if constexpr (std::is_same_v<T, Half>) {
      float buf[kReducedBlock];
      for (int64_t i0 = 0; i0 < width; i0 += kReducedBlock) {
        const int64_t w = std::min(kReducedBlock, width - i0);
        for (int64_t r = 0; r < rows; ++r) {
          widen(buf, x + r * stride + i0, w);
          for (int64_t i = 0; i < w; ++i) acc[i0 + i] += buf[i];
        }
      }
      return;
    }
    if constexpr (lanes_v<T>) return fold_rows(acc, x, rows, width, stride, AddOp{});
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < width; ++i) acc[i] += x[r * stride + i];
    return;
  }
  const int64_t h = rows / 2;
  std::vector<A> tmp(static_cast<size_t>(width), A(0));
  add_rows(acc, x, h, width, stride);
  add_rows(tmp.data(), x + h * stride, rows - h, width, stride);
  for (int64_t i = 0; i < width; ++i) acc[i] += tmp[i];
}

// The row blocks of add_rows's tree `depth` levels down (blocks of 64 rows or
// fewer are not split), in order, as [first row, rows).
void row_blocks(int64_t r0, int64_t rows, int depth, std::vector<std::pair<int64_t, int64_t>>& out) {
  if (depth == 0 || rows <= 64) return out.push_back({r0, rows});
  const int64_t h = rows / 2;
  row_blocks(r0, h, depth - 1, out);
  row_blocks(r0 + h, rows - h, depth - 1, out);
}

// Adds the blocks' sums (block j's in sums(j)) up in add_rows's tree; the total
// ends in sums(first). Returns the next block index.
template <class T, class Sums>
int64_t add_blocks(int64_t rows, int depth, int64_t first, int64_t width, Sums sums) {
  if (depth == 0 || rows <= 64) return first + 1;
  const int64_t h = rows / 2;
  const int64_t right = add_blocks<T>(h, depth - 1, first, width, sums);
  const int64_t next = add_blocks<T>(rows - h, depth - 1, right, width, sums);
  T *acc = sums(first), *add = sums(right);
  for (int64_t i = 0; i < width; ++i) acc[i] += add[i];
  return next;
}

// One block of reduced dims of a contiguous tensor with kept dims after it
// (dim 0 of a matrix, the middle dims of [B, L, C] -> [B, 1, C]): a as
// [outer, rows, inner], so that each output row is folded from whole input
// rows instead of one element at a time through a stride-0 accumulator.
// With `broadcast`, the block may also be a stride-0 view of one row (an expanded
// [B, 1, C] as [B, L, C]): then row_stride is 0 and outer_stride is inner.
struct Middle {
  int64_t outer = 1, rows = 1, inner = 1;
  int64_t row_stride = 0, outer_stride = 0;  // in elements
};
bool middle_block(const KernelCall& c, Middle& m, bool broadcast = false) {
  const Tensor &a = c.in[0], &out = c.out[0];
  if (!out.is_contiguous() || a.numel() == 0) return false;
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (a.shape()[d] == 1) continue;
    const bool red = out.shape()[d] == 1;
    if (red && first < 0) first = d;
    if (red) last = d;
  }
  if (first < 0) return false;
  for (int64_t d = first; d <= last; ++d)
    if (a.shape()[d] != 1 && out.shape()[d] != 1) return false;  // a kept dim inside the block
  for (int64_t d = 0; d < a.dim(); ++d) (d < first ? m.outer : d <= last ? m.rows : m.inner) *= a.shape()[d];
  if (m.inner <= 1) return false;  // one contiguous run: reduce_runs
  // a's strides: contiguous, or (broadcast) the block's all 0 and the rest those of a
  // contiguous tensor without the block.
  const bool bcast = broadcast && !a.is_contiguous();
  int64_t expect = 1;
  for (int64_t d = a.dim() - 1; d >= 0; --d) {
    if (a.shape()[d] == 1) continue;
    const bool in_block = d >= first && d <= last;
    if (a.strides()[d] != (bcast && in_block ? 0 : expect)) return false;
    if (!(bcast && in_block)) expect *= a.shape()[d];
  }
  m.row_stride = bcast ? 0 : m.inner;
  m.outer_stride = bcast ? m.inner : m.rows * m.inner;
  return true;
}

// Sum: pairwise over halves of the rows (add_rows). With fewer output rows than
// threads (dim 0 of a matrix) the top levels of each tree are tasks of their own,
// added up in the same tree afterwards, and columns are split when the rows are
// too few: the bits do not depend on the thread count. (Over whole output rows
// only, sum(dim=0) of [3162, 3162] ran on one thread: 1.33x PyTorch's time on two.)
template <class A, class T>
void sum_middle_into(const Middle& m, const T* x, A* o) {
  const int nt = threads_for(m.outer * m.rows * m.inner);
  if (m.outer >= nt) {
    parallel_for(m.outer, m.rows * m.inner, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        std::fill(o + k * m.inner, o + (k + 1) * m.inner, A(0));
        add_rows(o + k * m.inner, x + k * m.rows * m.inner, m.rows, m.inner, m.inner);
      }
    });
    return;
  }
  int depth = 0;
  while ((m.outer << depth) < nt && depth < 8) ++depth;
  std::vector<std::pair<int64_t, int64_t>> blocks;
  row_blocks(0, m.rows, depth, blocks);
  const int64_t nb = static_cast<int64_t>(blocks.size());
  // Column strips (multiples of 64 elements) when the blocks alone are too few.
  const int64_t want = (nt + m.outer * nb - 1) / (m.outer * nb);
  const int64_t strip = std::max<int64_t>(64, ((m.inner + want - 1) / want + 63) / 64 * 64);
  const int64_t strips = (m.inner + strip - 1) / strip;
  // Block 0's sum goes straight to out, the others' to scratch.
  std::vector<A> scratch(static_cast<size_t>(m.outer * (nb - 1) * m.inner), A(0));
  const auto sums = [&](int64_t k, int64_t j) {
    return j == 0 ? o + k * m.inner : scratch.data() + (k * (nb - 1) + j - 1) * m.inner;
  };
  std::fill(o, o + m.outer * m.inner, A(0));
  parallel_for(m.outer * nb * strips, m.rows * strip / nb, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t k = t / (nb * strips), j = t / strips % nb, i0 = t % strips * strip;
      const int64_t w = std::min(strip, m.inner - i0);
      add_rows(sums(k, j) + i0, x + (k * m.rows + blocks[j].first) * m.inner + i0, blocks[j].second, w, m.inner);
    }
  });
  for (int64_t k = 0; k < m.outer; ++k) add_blocks<A>(m.rows, depth, 0, m.inner, [&](int64_t j) { return sums(k, j); });
}

// float16/bfloat16 add in float and round each sum once at the end (into out
// directly when out is float32, mean's case).
template <class T>
bool sum_middle(const KernelCall& c) {
  using A = acc_t<T>;
  Middle m;
  if (!middle_block(c, m)) return false;
  const T* x = static_cast<const T*>(c.in[0].data_ptr());
  std::vector<A> wide;
  A* o = static_cast<A*>(c.out[0].data_ptr());
  if (c.out[0].dtype() != dtype_v<A>) {
    if constexpr (!is_reduced_float_v<T>) return false;
    wide.resize(static_cast<size_t>(m.outer * m.inner));
    o = wide.data();
  }
  sum_middle_into(m, x, o);
  if constexpr (is_reduced_float_v<T>)
    if (!wide.empty()) narrow(static_cast<T*>(c.out[0].data_ptr()), o, m.outer * m.inner);
  return true;
}

// Columns per fold_middle task: up to 256 (a [rows, 256] strip of acc stays in L1), narrower
// (multiples of 32) when the strips are fewer than the threads: amax(dim=0) of [390, 256]
// was one task, 1.4x PyTorch's time on two threads. A column's order does not change.
constexpr int64_t kMaxStrip = 256;
int64_t strip_cols(const Middle& m) {
  const int64_t nt = threads_for(m.outer * m.rows * m.inner);
  const int64_t tasks = m.outer * ((m.inner + kMaxStrip - 1) / kMaxStrip);
  if (tasks >= nt) return kMaxStrip;
  const int64_t per = (m.inner * m.outer + nt - 1) / nt;  // columns per thread
  return std::clamp<int64_t>((per + 31) / 32 * 32, 32, kMaxStrip);
}

// prod, amax and amin: rows folded in order from `init` (fold_rows). Columns
// are split across threads, so each output sees the same order at any thread count.
template <class T, class Op>
bool fold_middle(const KernelCall& c, T init, Op op, bool broadcast = false) {
  Middle m;
  if (!middle_block(c, m, broadcast)) return false;
  const T* x = static_cast<const T*>(c.in[0].data_ptr());
  T* o = static_cast<T*>(c.out[0].data_ptr());
  const int64_t kCols = strip_cols(m);
  const int64_t strips = (m.inner + kCols - 1) / kCols;
  parallel_for(m.outer * strips, m.rows * kCols, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t k = t / strips, i0 = (t % strips) * kCols, w = std::min(kCols, m.inner - i0);
      T* acc = o + k * m.inner + i0;
      std::fill(acc, acc + w, init);
      fold_rows(acc, x + k * m.outer_stride + i0, m.rows, w, m.row_stride, op);
    }
  });
  return true;
}

// fold_middle for float16/bfloat16 (prod, amax, amin over whole rows): each strip's rows
// folded into float in order (bfloat16 widened in registers, float16 16 rows at a time into
// a float buffer), the strip rounded once at the end; the same values as via_float's float32 copy, which ran
// amax(dim=0) of 10^5 bfloat16 at 1.2-1.5x PyTorch's time on two threads.
template <class T, class Op>
bool fold_middle_reduced(const KernelCall& c, float init, Op op) {
  Middle m;
  if (!middle_block(c, m) || m.inner < 32) return false;  // narrow strips: via_float's one copy
  const T* x = static_cast<const T*>(c.in[0].data_ptr());
  T* o = static_cast<T*>(c.out[0].data_ptr());
  constexpr int64_t kRows = 16;
  const int64_t kCols = strip_cols(m);
  const int64_t strips = (m.inner + kCols - 1) / kCols;
  parallel_for(m.outer * strips, m.rows * kCols, [&](int64_t b, int64_t e) {
    float acc[kMaxStrip], buf[kRows * kMaxStrip];
    for (int64_t t = b; t < e; ++t) {
      const int64_t k = t / strips, i0 = (t % strips) * kCols, w = std::min(kCols, m.inner - i0);
      std::fill(acc, acc + w, init);
      if constexpr (std::is_same_v<T, BFloat16>) {  // widened in registers
        fold_rows(acc, x + k * m.outer_stride + i0, m.rows, w, m.row_stride, op);
        narrow(o + k * m.inner + i0, acc, w);
        continue;
      }
      for (int64_t r0 = 0; r0 < m.rows; r0 += kRows) {
        const int64_t rs = std::min(kRows, m.rows - r0);
        for (int64_t r = 0; r < rs; ++r) widen(buf + r * w, x + k * m.outer_stride + (r0 + r) * m.row_stride + i0, w);
        fold_rows(acc, buf, rs, w, w, op);
      }
      narrow(o + k * m.inner + i0, acc, w);
    }
  });
  return true;
}

// fold_middle_reduced on a contiguous input, or on a permuted dense one (a transpose) in its
// memory order, whose rows are then the reduced dim: through via_float's float32 copy,
// amax(dim=-1) of a transposed 10^7 bfloat16 ran 1.4x PyTorch's time.
template <class T, class Op>
bool fold_middle_reduced_dense(const KernelCall& c, float init, Op op) {
  if (c.in[0].is_contiguous()) return fold_middle_reduced<T>(c, init, op);
  const Shape perm = memory_order(c.in[0]);
  Tensor in[1] = {c.in[0].permute(perm)};
  Tensor out[1] = {c.out[0].permute(perm)};
  if (!in[0].is_contiguous() || !out[0].is_contiguous()) return false;
  return fold_middle_reduced<T>(KernelCall{std::span<const Tensor>(in, 1), std::span<Tensor>(out, 1), c.params}, init,
                                op);
}

// A non-contiguous input whose reduced dims form no runs (a transposed or
// broadcast view) is read in memory order when it is a permuted dense tensor,
// else copied to a contiguous tensor first; either way the vectorized folds run
// instead of one element at a time through a stride-0 accumulator (sum of a
// transposed 10^5 view: ~40x PyTorch's time). The order depends on the layout
// only, not on the thread count.
template <class T>
bool via_contiguous(const KernelCall& c, void (*kernel)(const KernelCall&)) {
  const Tensor& a = c.in[0];
  if (a.is_contiguous() || a.numel() < 2) return false;
  int64_t run;
  if (inner_contiguous(split_dims(a, c.out[0]), run)) return false;
  // A permuted dense tensor (a transpose): the same dims of a and out permuted to
  // a's memory order reduce the same elements into the same outputs, with no copy
  // (at any size: the element-by-element path costs ~4 ns an element).
  const Shape perm = memory_order(a);
  Tensor in[1] = {a.permute(perm)};
  Tensor out[1] = {c.out[0].permute(perm)};
  if (!in[0].is_contiguous() || !out[0].is_contiguous()) {
    // The copy pays off for the vector folds only; cap: the copy's memory.
    if (!lanes_v<T> || a.numel() < 4096 || a.numel() > (int64_t{1} << 26)) return false;
    autograd::NoGradGuard no_grad;
    in[0] = a.contiguous();
    out[0] = c.out[0];
  }
  kernel(KernelCall{std::span<const Tensor>(in, 1), std::span<Tensor>(out, 1), c.params});
  return true;
}

// A broadcast input (stride-0 dims of size > 1) is reduced over one copy of
// each repeated slice: a reduced stride-0 dim drops out (a sum scales by its
// size, amax/amin do not change), a kept one is computed once and expanded
// into out. Copying the view instead (via_contiguous) materialized e.g. 40 MB
// for a sum of a [10^7] broadcast of [10^3] values (11-49x PyTorch's time).
// A broadcast input's distinct values: `ra` (a's stride-0 dims of size > 1 narrowed to one), the
// shape of their reduction (out's with such kept dims set to 1), how many times each reduced
// value repeats (the product of the reduced stride-0 sizes), and whether out keeps any of them.
struct DistinctPart {
  Tensor ra;
  Shape part_shape;
  int64_t count = 1;
  bool kept = false;
};
DistinctPart distinct_part(const Tensor& a, const Tensor& out) {
  DistinctPart r{a, out.shape()};
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (a.strides()[d] != 0 || a.shape()[d] <= 1) continue;
    if (out.shape()[d] == 1)
      r.count *= a.shape()[d];
    else
      r.kept = true, r.part_shape[static_cast<size_t>(d)] = 1;
    r.ra = r.ra.narrow(d, 0, 1);
  }
  return r;
}

template <class T>
bool fold_broadcast(const KernelCall& c, void (*kernel)(const KernelCall&), bool scale_by_count) {
  if constexpr (!lanes_v<T>) {
    return false;
  } else {
    const Tensor &a = c.in[0], &out = c.out[0];
    if (a.numel() < 2) return false;
    const auto [ra, part_shape, count, kept] = distinct_part(a, out);
    if (ra.numel() == a.numel()) return false;
    autograd::NoGradGuard no_grad;
    Tensor part = kept ? empty(part_shape, TensorOptions(out.dtype())) : out;
    Tensor in[1] = {ra};
    Tensor res[1] = {part};
    kernel(KernelCall{std::span<const Tensor>(in, 1), std::span<Tensor>(res, 1), c.params});
    if (scale_by_count && count > 1) part.mul_(Scalar(static_cast<double>(count)));
    if (kept) c.out[0].copy_(part.expand(out.shape()));
    return true;
  }
}

// float16/bfloat16 input: the float32 kernel on a float32 copy, its result narrowed
// into out (each output rounded once, as PyTorch's float accumulation does). The
// folds above are written for float lanes; element by element, sum(dim=0) of 10^5
// bfloat16 took 7.8x PyTorch's time. Broadcast dims stay stride 0 in the copy, so
// it holds each distinct value once and the float kernel's fold_broadcast applies.
template <class T>
bool via_float(const KernelCall& c, void (*kernel)(const KernelCall&)) {
  if constexpr (!is_reduced_float_v<T>) {
    return false;
  } else {
    const Tensor& a = c.in[0];
    autograd::NoGradGuard no_grad;
    Tensor distinct = a;
    for (int64_t d = 0; d < a.dim(); ++d)
      if (a.strides()[d] == 0 && a.shape()[d] > 1) distinct = distinct.narrow(d, 0, 1);
    // (.to keeps a transpose's layout: the cast runs in memory order.)
    Tensor in[1] = {distinct.to(DType::Float32).expand(a.shape())};
    Tensor out[1] = {empty(c.out[0].shape(), TensorOptions(DType::Float32))};
    kernel(KernelCall{std::span<const Tensor>(in, 1), std::span<Tensor>(out, 1), c.params});
    Tensor o = c.out[0];
    o.copy_(out[0]);
    return true;
  }
}

// float16/bfloat16 read in place where a dense input, in its memory order, is
// reduced over whole rows (sum_middle: columns in float strips) or contiguous runs
// (pairwise_sum widens each leaf); other layouts go through via_float.
template <class T>
bool reduced_in_place(const KernelCall& c) {
  if constexpr (!is_reduced_float_v<T>) {
    return false;
  } else {
    const Shape perm = memory_order(c.in[0]);
    const Tensor in[1] = {c.in[0].permute(perm)};
    Tensor out[1] = {c.out[0].permute(perm)};
    if (!in[0].is_contiguous() || !out[0].is_contiguous()) return false;
    if (sum_middle<T>(KernelCall{std::span<const Tensor>(in, 1), std::span<Tensor>(out, 1), c.params})) return true;
    const Split s = split_dims(in[0], out[0]);
    int64_t run;
    if (!inner_contiguous(s, run)) return false;
    if (out[0].dtype() == DType::Float32)
      reduce_runs<T, float>(in[0], out[0], s, run, SumRunTo<T, float>{});
    else
      reduce_runs<T, float>(in[0], out[0], s, run, SumRun<T>{});
    return true;
  }
}

// bfloat16 folded along contiguous runs in place (a dense input in its memory order,
// reduced over its inner dims), float lanes as on a float32 copy; other layouts and
// float16 go through via_float (a float32 copy of 10^7 values was 40% of amax's time).
template <class T, class Run>
bool runs_in_place(const KernelCall& c, Run reduce) {
  if constexpr (!std::is_same_v<T, BFloat16>) {
    return false;
  } else {
    const Shape perm = memory_order(c.in[0]);
    const Tensor in = c.in[0].permute(perm), out = c.out[0].permute(perm);
    if (!in.is_contiguous() || !out.is_contiguous() || in.numel() == 0) return false;
    const Split s = split_dims(in, out);
    int64_t run;
    if (!inner_contiguous(s, run) || run < 32) return false;
    reduce_runs<T, float>(in, out, s, run, reduce);
    return true;
  }
}

// float16/bfloat16 with broadcast dims: fold_broadcast's sum over the distinct values, read in
// place into float32 (reduced_in_place), scaled there and rounded into out, as via_float would
// (the same float32 sum and product) without its float32 copy and second fold: sum(dim=0) of a
// [62, 16] bfloat16 broadcast took 4.4 us, PyTorch 2.8.
template <class T>
bool sum_broadcast_reduced(const KernelCall& c) {
  if constexpr (!is_reduced_float_v<T>) {
    return false;
  } else {
    const Tensor &a = c.in[0], &out = c.out[0];
    const auto [ra, part_shape, count, kept] = distinct_part(a, out);
    if (ra.numel() == a.numel()) return false;
    autograd::NoGradGuard no_grad;
    const Tensor in[1] = {ra};
    Tensor part[1] = {empty(part_shape, TensorOptions(DType::Float32))};
    if (!reduced_in_place<T>(KernelCall{std::span<const Tensor>(in, 1), std::span<Tensor>(part, 1), c.params}))
      return false;
    if (!kept && out.is_contiguous()) {  // scale and round in one loop: two dispatches less
      const float* p = static_cast<const float*>(part[0].data_ptr());
      const float k = static_cast<float>(count);
      const auto store = [&]<class O>(O* o) {  // out: T, or float32 (mean, sum(dtype=float32))
        for (int64_t i = 0; i < out.numel(); ++i) o[i] = static_cast<O>(count > 1 ? p[i] * k : p[i]);
      };
      if (out.dtype() == DType::Float32)
        store(static_cast<float*>(out.data_ptr()));
      else
        store(static_cast<T*>(out.data_ptr()));
      return true;
    }
    if (count > 1) part[0].mul_(Scalar(static_cast<double>(count)));
    Tensor o = out;
    o.copy_(kept ? part[0].expand(out.shape()) : part[0]);
    return true;
  }
}

template <class T>
void sum_kernel(const KernelCall& c) {
  if (reduced_in_place<T>(c)) return;
  if (sum_broadcast_reduced<T>(c)) return;
  if (via_float<T>(c, &sum_kernel<float>)) return;
  if (fold_broadcast<T>(c, &sum_kernel<T>, true)) return;
  if (via_contiguous<T>(c, &sum_kernel<T>)) return;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
    if (sum_middle<T>(c)) return;
  fold_kernel<T>(c, SumRun<T>{}, [](auto r, auto v) { return r + v; });
}

// By name, "sum_squares" (norm's p = 2 on real floats): sum(x * x) over the
// reduced dims, which the caller passes only as one contiguous run per output
// (the last dims of a contiguous tensor); a broadcast input folds first.
// float16/bfloat16 input: the sums in float32 lanes into a float32 out (the caller's
// sqrt rounds once), read in place: the float32 kernel's order on the widened values.
template <class T>
void sum_squares_kernel(const KernelCall& c) {
  if constexpr (!is_reduced_float_v<T>)
    if (fold_broadcast<T>(c, &sum_squares_kernel<T>, true)) return;
  const Tensor &a = c.in[0], &out = c.out[0];
  const Split s = split_dims(a, out);
  int64_t run;
  if (!inner_contiguous(s, run)) throw ValueError("[sum_squares] the reduced dims must form one contiguous run");
  if constexpr (is_reduced_float_v<T>) {
    if (out.dtype() != DType::Float32) throw ValueError("[sum_squares] float16/bfloat16 input sums into float32");
    reduce_runs<T, float>(a, out, s, run, SumSqRun<T, float>{});
  } else {
    reduce_runs<T, acc_t<T>>(a, out, s, run, SumSqRun<T>{});
  }
}

template <class T>
void prod_kernel(const KernelCall& c) {
  if constexpr (is_reduced_float_v<T>)
    if (fold_middle_reduced_dense<T>(c, 1.0f, MulOp{})) return;
  if (runs_in_place<T>(c, ProdRun<T>{})) return;
  if (via_float<T>(c, &prod_kernel<float>)) return;
  // A broadcast block (an expanded row) folds that row in place, rows times: the same
  // multiplications in the same order as on a copy, without the copy (10^7: 14x PyTorch's time).
  if constexpr (lanes_v<T>)
    if (!c.in[0].is_contiguous() && fold_middle<T>(c, T(1), MulOp{}, true)) return;
  if (via_contiguous<T>(c, &prod_kernel<T>)) return;
  if constexpr (lanes_v<T>)
    if (fold_middle<T>(c, T(1), MulOp{})) return;
  fold_kernel<T>(c, ProdRun<T>{}, [](auto r, auto v) { return r * v; });
}

template <class T, bool IsMax>
void extreme_kernel(const KernelCall& c) {
  if constexpr (is_reduced_float_v<T>)
    if (IsMax ? fold_middle_reduced_dense<T>(c, -INFINITY, MaxNanOp{})
              : fold_middle_reduced_dense<T>(c, INFINITY, MinNanOp{}))
      return;
  if (runs_in_place<T>(c, ExtremeRun<T>{IsMax})) return;
  if (via_float<T>(c, &extreme_kernel<float, IsMax>)) return;
  if (fold_broadcast<T>(c, &extreme_kernel<T, IsMax>, false)) return;
  if (via_contiguous<T>(c, &extreme_kernel<T, IsMax>)) return;
  using A = acc_t<T>;
  const Tensor &a = c.in[0], &out = c.out[0];
  const Split s = split_dims(a, out);
  int64_t run;
  if (inner_contiguous(s, run)) return reduce_runs<T, A>(a, out, s, run, ExtremeRun<T>{IsMax});
  if constexpr (lanes_v<T>) {
    constexpr T inf = std::numeric_limits<T>::infinity();
    if (IsMax ? fold_middle<T>(c, -inf, MaxNanOp{}) : fold_middle<T>(c, inf, MinNanOp{})) return;
  }
  A init;
  if constexpr (std::is_same_v<A, bool>) init = !IsMax;
  else if constexpr (std::is_floating_point_v<A>) init = IsMax ? -INFINITY : INFINITY;
  else init = IsMax ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  reduce_general<T, A>(a, out, init, [](A r, A v) { return better(v, r, IsMax) ? v : r; });
}

const bool registered = [] {
  register_for(AllTypes{}, op::sum, []<class T>(std::type_identity<T>) -> Kernel { return &sum_kernel<T>; });
  register_for(AllTypes{}, op::prod, []<class T>(std::type_identity<T>) -> Kernel { return &prod_kernel<T>; });
  const OpId sq = Registry::get().op_id("sum_squares");
  Registry::get().add(sq, DeviceType::CPU, DType::Float32, &sum_squares_kernel<float>);
  Registry::get().add(sq, DeviceType::CPU, DType::Float64, &sum_squares_kernel<double>);
  Registry::get().add(sq, DeviceType::CPU, DType::BFloat16, &sum_squares_kernel<BFloat16>);
  Registry::get().add(sq, DeviceType::CPU, DType::Float16, &sum_squares_kernel<Half>);
  register_for(BoolType{} + RealTypes{}, op::amax,
               []<class T>(std::type_identity<T>) -> Kernel { return &extreme_kernel<T, true>; });
  register_for(BoolType{} + RealTypes{}, op::amin,
               []<class T>(std::type_identity<T>) -> Kernel { return &extreme_kernel<T, false>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
