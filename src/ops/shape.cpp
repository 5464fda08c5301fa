// Joining ops: cat and stack.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/ops.h"
#include "tessel/trace.h"

namespace tessel {

namespace {
// Blocks [b, e) of B bytes each from packed src to dst, `stride` bytes apart: B a
// compile-time constant, so each block is a few moves, not a memcpy call.
template <int64_t B>
void copy_blocks(char* dst, int64_t stride, const char* src, int64_t b, int64_t e) {
  for (int64_t o = b; o < e; ++o) std::memcpy(dst + o * stride, src + o * B, B);
}

// The same for any block size: sizes in Bs (the small ones: cat along the last
// dims, stack along the last, a block of one element) through copy_blocks. A
// memcpy call per block cost ~4 ns whatever its size (stack of two [390, 256]
// along -1: 485 us).
template <int64_t... Bs>
void copy_rows(char* dst, int64_t stride, const char* src, int64_t block, int64_t b, int64_t e,
               std::integer_sequence<int64_t, Bs...> = {}) {
  if ((... || (block == Bs && (copy_blocks<Bs>(dst, stride, src, b, e), true)))) return;
  for (int64_t o = b; o < e; ++o) std::memcpy(dst + o * stride, src + o * block, static_cast<size_t>(block));
}
constexpr std::integer_sequence<int64_t, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64> kFixedBlocks;

// Two parts of B-byte blocks interleaved row by row (stack of two along the last
// dim, ts.complex): one pass over the result instead of one per part.
// As whole words the compiler vectorizes (loads of each part, in-register
// interleaves, full-width stores): 57 -> 20 us for ts.complex of two [390, 256]
// float32, where a pair of 4-byte copies per row was one element a cycle.
template <int64_t B>
TESSEL_CLONES void interleave2(char* dst, const char* a, const char* b, int64_t lo, int64_t hi) {
  typedef std::conditional_t<
      B == 1, uint8_t,
      std::conditional_t<B == 2, uint16_t, std::conditional_t<B == 4, uint32_t, uint64_t>>> __attribute__((may_alias))
  U;  // any type of B bytes
  U* __restrict d = reinterpret_cast<U*>(dst);
  const U* __restrict x = reinterpret_cast<const U*>(a);
  const U* __restrict y = reinterpret_cast<const U*>(b);
  for (int64_t o = lo; o < hi; ++o) {
    d[2 * o] = x[o];
    d[2 * o + 1] = y[o];
  }
}

// Two transposed matrices of U interleaved (stack(dim=-1) of x.t() and y.t()): out
// [R, C, 2] from parts whose element (i, j) lies at i + j * ld. Square tiles, each part's
// read along its columns into an L1 buffer, the result written along its rows in whole
// lines. Each part copied into its own slots wrote half of every line, fetched twice:
// bfloat16 [390, 256] pairs 160 us, PyTorch's 110.
template <class U>
void interleave2_transposed(U* out, const U* a, const U* b, int64_t R, int64_t C, int64_t ld, int64_t lo, int64_t hi) {
  constexpr int64_t T = 64 / sizeof(U) < 16 ? 16 : 64 / sizeof(U);  // a tile row: at least one line
  U buf[2][T][T];
  const int64_t rb = (R + T - 1) / T;
  for (int64_t t = lo; t < hi; ++t) {  // tile t: rows i0.., columns j0..
    const int64_t i0 = (t % rb) * T, j0 = (t / rb) * T, ni = std::min(T, R - i0), nj = std::min(T, C - j0);
    for (int64_t jj = 0; jj < nj; ++jj) {
      std::memcpy(buf[0][jj], a + (j0 + jj) * ld + i0, static_cast<size_t>(ni) * sizeof(U));
      std::memcpy(buf[1][jj], b + (j0 + jj) * ld + i0, static_cast<size_t>(ni) * sizeof(U));
    }
    for (int64_t ii = 0; ii < ni; ++ii) {
      U* o = out + ((i0 + ii) * C + j0) * 2;
      for (int64_t jj = 0; jj < nj; ++jj) {
        o[2 * jj] = buf[0][jj][ii];
        o[2 * jj + 1] = buf[1][jj][ii];
      }
    }
  }
}

// stack(dim=-1) of two CPU matrices of the result's dtype with the same transposed strides
// (element (i, j) at i + j * ld, ld >= R): through interleave2_transposed. False otherwise.
bool stack_transposed_pair(const Tensor& out, const Tensor& x, const Tensor& y) {
  if (x.dim() != 3 || x.shape()[2] != 1 || x.strides() != y.strides() || x.dtype() != out.dtype() ||
      y.dtype() != out.dtype() || !x.device().is_cpu() || !out.is_contiguous())
    return false;
  const int64_t R = x.shape()[0], C = x.shape()[1], ld = x.strides()[1];
  if (x.strides()[0] != 1 || R < 2 || C < 2 || ld < R || R * C < 4096) return false;
  const auto run = [&]<class U>(std::type_identity<U>) {
    const auto* a = static_cast<const U*>(x.data_ptr());
    const auto* b = static_cast<const U*>(y.data_ptr());
    constexpr int64_t T = 64 / sizeof(U) < 16 ? 16 : 64 / sizeof(U);
    const int64_t tiles = ((R + T - 1) / T) * ((C + T - 1) / T);
    cpu::parallel_for(tiles, T * T * 4, [&](int64_t lo, int64_t hi) {
      interleave2_transposed<U>(static_cast<U*>(out.data_ptr()), a, b, R, C, ld, lo, hi);
    });
  };
  switch (out.itemsize()) {
    case 2:
      return run(std::type_identity<uint16_t>{}), true;
    case 4:
      return run(std::type_identity<uint32_t>{}), true;
    case 8:
      return run(std::type_identity<uint64_t>{}), true;
    default:
      return false;
  }
}

Tensor cat_forward(const std::vector<Tensor>& tensors, int64_t dim) {
  TS_CHECK(!tensors.empty(), ValueError, "cat", "expected a non-empty list of tensors");
  // Like PyTorch, 1-D empty tensors are skipped (a legacy convention for accumulating lists).
  std::vector<const Tensor*> parts;
  for (const Tensor& t : tensors) {
    TS_CHECK(t.defined(), ValueError, "cat", "got an undefined tensor");
    if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(&t);
  }
  if (parts.empty()) return tensors[0].clone();
  const Tensor& ref = *parts[0];
  TS_CHECK(ref.dim() > 0, ValueError, "cat", "zero-dimensional tensor cannot be concatenated");
  const int64_t d = wrap_dim("cat", dim, ref.dim());
  DType dt = ref.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    TS_CHECK(t.dim() == ref.dim(), ValueError, "cat", "tensors must have the same number of dims: tensor 0 has ",
             ref.dim(), ", tensor ", i, " has ", t.dim());
    TS_CHECK(t.device() == ref.device(), ValueError, "cat", "expected all tensors on one device, got ", ref.device(),
             " and ", t.device());
    for (int64_t k = 0; k < ref.dim(); ++k) {
      TS_CHECK(k == d || t.shape()[k] == ref.shape()[k], ValueError, "cat", "sizes must match except in dim ", d,
               ": tensor 0 has shape ", ref.shape(), ", tensor ", i, " has shape ", t.shape());
    }
    dt = promote_types(dt, t.dtype());
    total += t.shape()[d];
  }
  Shape shape = ref.shape();
  shape[d] = total;
  Tensor out = empty(shape, TensorOptions(dt, ref.device()));
  if (parts.size() == 2 && d == 2 && out.numel() > 0 && stack_transposed_pair(out, *parts[0], *parts[1])) return out;
  const bool plain = ref.device().is_cpu() && std::all_of(parts.begin(), parts.end(), [&](const Tensor* t) {
    return t->dtype() == dt && t->is_contiguous();
  });
  if (plain && out.numel() > 0) {
    // Contiguous CPU parts of the result's dtype: each part is `outer` blocks placed
    // side by side in the result's rows, copied with memcpy (a narrowed view and a
    // copy_ per part cost more than the bytes for small tensors).
    int64_t outer = 1, inner = static_cast<int64_t>(out.itemsize());
    for (int64_t k = 0; k < d; ++k) outer *= shape[k];
    for (int64_t k = d + 1; k < out.dim(); ++k) inner *= shape[k];
    const int64_t row = total * inner;
    char* dst = static_cast<char*>(out.data_ptr());
    const auto blocks = [&](const Tensor* t) { return t->shape()[d] * inner; };
    // (1- and 2-byte elements too: stack of two [316, 316] bfloat16 along -1 took 150 us
    // by a memcpy per element, float32's 23)
    if (parts.size() == 2 && blocks(parts[0]) == blocks(parts[1]) && (row == 2 || row == 4 || row == 8 || row == 16)) {
      const char *a = static_cast<const char*>(parts[0]->data_ptr()),
                 *b = static_cast<const char*>(parts[1]->data_ptr());
      const auto run = [&](int64_t lo, int64_t hi) {
        switch (row) {
          case 2:
            return interleave2<1>(dst, a, b, lo, hi);
          case 4:
            return interleave2<2>(dst, a, b, lo, hi);
          case 8:
            return interleave2<4>(dst, a, b, lo, hi);
          default:
            return interleave2<8>(dst, a, b, lo, hi);
        }
      };
      if (outer * row > (int64_t{1} << 18))  // 256 KiB written: two threads pay off
        cpu::parallel_for(outer, row, run);
      else
        run(0, outer);
      return out;
    }
    int64_t off = 0;
    for (const Tensor* t : parts) {
      const int64_t block = blocks(t);
      const char* src = static_cast<const char*>(t->data_ptr());
      const auto run = [&](int64_t b, int64_t e) { copy_rows(dst + off, row, src, block, b, e, kFixedBlocks); };
      if (outer * block > (int64_t{1} << 20))
        cpu::parallel_for(outer, block, run);
      else
        run(0, outer);
      off += block;
    }
    return out;
  }
  int64_t off = 0;
  for (const Tensor* t : parts) {
    out.narrow(d, off, t->shape()[d]).copy_(*t);
    off += t->shape()[d];
  }
  return out;
}
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  if (trace::Op t{"cat"}) return t.in(tensors).attr("dim", dim).out(cat(tensors, dim));
  OpScope scope_("cat");
  return autograd::recorded(
      autograd::needs_grad_any(tensors), [&] { return cat_forward(tensors, dim); },
      [&](const Tensor& out) { autograd::rules::cat(tensors, dim, out); });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  if (trace::Op t{"stack"}) return t.in(tensors).attr("dim", dim).out(stack(tensors, dim));
  OpScope scope_("stack");
  TS_CHECK(!tensors.empty(), ValueError, "stack", "expected a non-empty list of tensors");
  const int64_t d = wrap_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    TS_CHECK(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(), ValueError, "stack",
             "expects each tensor to be equal size, but got ", tensors[0].shape(), " at entry 0 and ",
             tensors[i].shape(), " at entry ", i);
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

}  // namespace tessel

namespace tessel {

std::vector<Tensor> split(const Tensor& t, const Shape& sizes, int64_t dim) {
  if (trace::Op r{"split"}) return r.in(t).attr("sizes", sizes).attr("dim", dim).out(split(t, sizes, dim));
  OpScope scope_("split");
  TS_CHECK(t.dim() > 0, ValueError, "split", "cannot split a 0-d tensor");
  const int64_t d = wrap_dim("split", dim, t.dim());
  int64_t total = 0;
  for (int64_t s : sizes) {
    TS_CHECK(s >= 0, ValueError, "split", "negative size in ", sizes);
    total += s;
  }
  TS_CHECK(total == t.shape()[d], ValueError, "split", "sizes ", sizes, " sum to ", total, ", but dim ", d,
           " has size ", t.shape()[d]);
  std::vector<Tensor> out;
  int64_t off = 0;
  for (int64_t s : sizes) {
    out.push_back(t.narrow(d, off, s));
    off += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim) {
  OpScope scope_("split");
  TS_CHECK(t.dim() > 0, ValueError, "split", "cannot split a 0-d tensor");
  const int64_t d = wrap_dim("split", dim, t.dim());
  const int64_t n = t.shape()[d];
  TS_CHECK(split_size > 0 || (split_size == 0 && n == 0), ValueError, "split", "split_size must be positive, got ",
           split_size);
  Shape sizes;
  for (int64_t off = 0; off < n; off += split_size) sizes.push_back(std::min(split_size, n - off));
  if (sizes.empty()) sizes.push_back(0);
  return split(t, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim) {
  OpScope scope_("chunk");
  TS_CHECK(chunks > 0, ValueError, "chunk", "chunks must be positive, got ", chunks);
  TS_CHECK(t.dim() > 0, ValueError, "chunk", "cannot chunk a 0-d tensor");
  const int64_t n = t.shape()[wrap_dim("chunk", dim, t.dim())];
  if (n == 0) return split(t, Shape(static_cast<size_t>(chunks), 0), dim);  // `chunks` empty pieces, as PyTorch
  return split(t, (n + chunks - 1) / chunks, dim);
}

std::vector<Tensor> unbind(const Tensor& t, int64_t dim) {
  if (trace::Op r{"unbind"}) return r.in(t).attr("dim", dim).out(unbind(t, dim));
  OpScope scope_("unbind");
  TS_CHECK(t.dim() > 0, ValueError, "unbind", "cannot unbind a 0-d tensor");
  const int64_t d = wrap_dim("unbind", dim, t.dim());
  std::vector<Tensor> out;
  for (int64_t i = 0; i < t.shape()[d]; ++i) out.push_back(t.select(d, i));
  return out;
}

Tensor flip(const Tensor& t, const Shape& dims) {
  if (trace::Op r{"flip"}) return r.in(t).attr("dims", dims).out(flip(t, dims));
  OpScope scope_("flip");
  if (autograd::needs_grad(t)) {
    return autograd::recorded(
        true, [&] { return flip(t, dims); }, [&](const Tensor& out) { autograd::rules::flip(t, dims, out); });
  }
  Shape st = t.strides();
  int64_t off = t.offset();
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(t.dim(), 1)), false);
  for (int64_t dd : dims) {
    const int64_t d = wrap_dim("flip", dd, t.dim());
    TS_CHECK(!seen[d], ValueError, "flip", "dim ", d, " appears multiple times in ", dims);
    seen[d] = true;
    if (t.dim() == 0 || t.shape()[d] == 0) continue;
    off += (t.shape()[d] - 1) * st[d];
    st[d] = -st[d];
  }
  // A negative-stride view is read once by the copy kernel, never handed out.
  return t.as_strided(t.shape(), st, off).clone();
}

Tensor roll(const Tensor& t, const Shape& shifts, const Shape& dims) {
  OpScope scope_("roll");
  if (dims.empty()) {
    TS_CHECK(shifts.size() == 1, ValueError, "roll", "without dims, shifts must be a single value, got ", shifts);
    return roll(t.reshape({-1}), shifts, {0}).reshape(t.shape());
  }
  TS_CHECK(shifts.size() == dims.size(), ValueError, "roll", "shifts ", shifts, " and dims ", dims,
           " differ in length");
  Tensor r = t;
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim("roll", dims[i], t.dim());
    const int64_t n = r.shape()[d];
    if (n == 0) continue;
    const int64_t s = ((shifts[i] % n) + n) % n;
    if (s == 0) continue;
    r = cat({r.narrow(d, n - s, s), r.narrow(d, 0, n - s)}, d);
  }
  return r.is_same(t) ? t.clone() : r;
}

Tensor repeat(const Tensor& t, const Shape& repeats) {
  if (trace::Op r{"repeat"}) return r.in(t).attr("repeats", repeats).out(repeat(t, repeats));
  OpScope scope_("repeat");
  TS_CHECK(static_cast<int64_t>(repeats.size()) >= t.dim(), ValueError, "repeat", "number of repeats ",
           repeats.size(), " is smaller than the number of dims ", t.dim());
  for (int64_t r : repeats) TS_CHECK(r >= 0, ValueError, "repeat", "negative repeat in ", repeats);
  const size_t n = repeats.size();
  Shape sizes(n - static_cast<size_t>(t.dim()), 1);
  sizes.insert(sizes.end(), t.shape().begin(), t.shape().end());
  // [1, s0, 1, s1, ...] expanded to [r0, s0, r1, s1, ...], then merged pairwise.
  Shape v, e, out;
  for (size_t i = 0; i < n; ++i) {
    v.push_back(1), v.push_back(sizes[i]);
    e.push_back(repeats[i]), e.push_back(sizes[i]);
    out.push_back(repeats[i] * sizes[i]);
  }
  return t.reshape(v).expand(e).contiguous().view(out);
}

Tensor tile(const Tensor& t, const Shape& reps) {
  OpScope scope_("tile");
  Shape r = reps;
  while (static_cast<int64_t>(r.size()) < t.dim()) r.insert(r.begin(), 1);
  return repeat(t, r);
}

Tensor repeat_interleave(const Tensor& t, int64_t repeats, std::optional<int64_t> dim) {
  OpScope scope_("repeat_interleave");
  TS_CHECK(repeats >= 0, ValueError, "repeat_interleave", "repeats must be non-negative, got ", repeats);
  const Tensor x = dim ? t : t.reshape({-1});
  const int64_t d = dim ? wrap_dim("repeat_interleave", *dim, t.dim()) : 0;
  if (x.dim() == 0) return x.reshape({1}).expand({repeats}).contiguous();
  Shape e = x.unsqueeze(d + 1).shape();
  e[d + 1] = repeats;
  return x.unsqueeze(d + 1).expand(e).contiguous().flatten(d, d + 1);
}

Tensor repeat_interleave(const Tensor& t, const Tensor& repeats, std::optional<int64_t> dim) {
  OpScope scope_("repeat_interleave");
  TS_CHECK(is_integral(repeats.dtype()) && repeats.dim() <= 1, TypeError, "repeat_interleave",
           "repeats must be a 0-d or 1-D integer tensor, got ", repeats.dtype(), " of shape ", repeats.shape());
  const Tensor x = dim ? t : t.reshape({-1});
  const int64_t d = dim ? wrap_dim("repeat_interleave", *dim, t.dim()) : 0;
  const int64_t n = x.dim() ? x.shape()[d] : 1;
  if (repeats.numel() == 1) return repeat_interleave(t, repeats.item<int64_t>(), dim);
  TS_CHECK(repeats.numel() == n, ValueError, "repeat_interleave", "repeats has ", repeats.numel(),
           " entries for a dim of size ", n);
  const Tensor r = repeats.cpu().to(DType::Int64).contiguous();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = r.data<int64_t>()[i];
    TS_CHECK(k >= 0, ValueError, "repeat_interleave", "negative repeat ", k, " at position ", i);
    idx.insert(idx.end(), static_cast<size_t>(k), i);
  }
  return index_select(x, d, from_vector<int64_t>(idx, {static_cast<int64_t>(idx.size())}).to(t.device()));
}

namespace {
Tensor triangle(const char* op, const Tensor& t, int64_t k, bool lower) {
  if (trace::Op r{lower ? "tril" : "triu"}) return r.in(t).attr("diagonal", k).out(triangle(op, t, k, lower));
  TS_CHECK(t.dim() >= 2, ValueError, op, "expects a tensor with at least 2 dims, got shape ", t.shape());
  const int64_t m = t.shape()[t.dim() - 2], n = t.shape()[t.dim() - 1];
  const Tensor rows = arange(Scalar(0), Scalar(m), Scalar(1), DType::Int64, t.device()).unsqueeze(1);
  const Tensor cols = arange(Scalar(0), Scalar(n), Scalar(1), DType::Int64, t.device()).unsqueeze(0);
  const Tensor diff = sub(cols, rows);  // j - i
  const Tensor keep = lower ? le(diff, Scalar(k)) : ge(diff, Scalar(k));
  return where(keep, t, scalar_tensor(Scalar(0), TensorOptions(t.dtype(), t.device())));
}
}  // namespace

Tensor tril(const Tensor& t, int64_t diagonal) { return triangle("tril", t, diagonal, true); }
Tensor triu(const Tensor& t, int64_t diagonal) { return triangle("triu", t, diagonal, false); }

Tensor pad(const Tensor& t, const Shape& p, const std::string& mode, double value) {
  if (trace::Op r{"pad"}) return r.in(t).attr("pad", p).attr("mode", mode).attr("value", value).out(pad(t, p, mode, value));
  OpScope scope_("pad");
  TS_CHECK(p.size() % 2 == 0 && static_cast<int64_t>(p.size()) <= 2 * t.dim(), ValueError, "pad",
           "pad must have an even length of at most 2 * ndim (", 2 * t.dim(), "), got ", p);
  const bool constant = mode == "constant";
  TS_CHECK(constant || mode == "reflect" || mode == "replicate" || mode == "circular", ValueError, "pad",
           "unknown mode '", mode, "' (constant, reflect, replicate, circular)");
  const int64_t npad = static_cast<int64_t>(p.size()) / 2;
  if (constant && autograd::needs_grad(t)) {
    return autograd::recorded(
        true, [&] { return pad(t, p, mode, value); }, [&](const Tensor& out) { autograd::rules::pad(t, p, out); });
  }
  if (constant) {
    Shape out_shape = t.shape();
    Tensor src = t;
    for (int64_t i = 0; i < npad; ++i) {
      const int64_t d = t.dim() - 1 - i, l = p[2 * i], r = p[2 * i + 1];
      out_shape[d] = t.shape()[d] + l + r;
      TS_CHECK(out_shape[d] >= 0, ValueError, "pad", "padding ", p, " makes dim ", d, " negative");
      const int64_t lo = std::max<int64_t>(-l, 0), hi = t.shape()[d] - std::max<int64_t>(-r, 0);
      src = src.narrow(d, std::min(lo, t.shape()[d]), std::max<int64_t>(hi - lo, 0));
    }
    Tensor out = full(out_shape, Scalar(value), TensorOptions(t.dtype(), t.device()));
    Tensor dst = out;
    for (int64_t i = 0; i < npad; ++i) {
      const int64_t d = t.dim() - 1 - i;
      dst = dst.narrow(d, std::max<int64_t>(p[2 * i], 0), src.shape()[d]);
    }
    if (dst.numel() > 0) dst.copy_(src);
    return out;
  }
  // Other modes gather along each padded dim with an index built on the host.
  Tensor r = t;
  for (int64_t i = 0; i < npad; ++i) {
    const int64_t d = t.dim() - 1 - i, l = p[2 * i], rr = p[2 * i + 1], n = t.shape()[d];
    TS_CHECK(l >= 0 && rr >= 0, ValueError, "pad", "negative padding ", p, " needs mode 'constant'");
    if (mode == "reflect") {
      TS_CHECK(l < n && rr < n, ValueError, "pad", "reflect padding (", l, ", ", rr, ") must be smaller than dim ", d,
               " of size ", n);
    } else if (mode == "circular") {
      TS_CHECK(l <= n && rr <= n, ValueError, "pad", "circular padding (", l, ", ", rr, ") exceeds dim ", d,
               " of size ", n);
    } else {
      TS_CHECK(n > 0, ValueError, "pad", "cannot replicate-pad an empty dim ", d);
    }
    std::vector<int64_t> idx;
    for (int64_t j = -l; j < n + rr; ++j) {
      int64_t k = j;
      if (mode == "reflect") k = j < 0 ? -j : (j >= n ? 2 * (n - 1) - j : j);
      else if (mode == "replicate") k = std::clamp<int64_t>(j, 0, n - 1);
      else k = ((j % n) + n) % n;
      idx.push_back(k);
    }
    r = index_select(r, d, from_vector<int64_t>(idx, {static_cast<int64_t>(idx.size())}).to(t.device()));
  }
  return r;
}

}  // namespace tessel
