// CPU matmul kernels: oneDNN for float32 (and bfloat16 where the CPU has it),
// Eigen for float64, integers and complex; float16 computes through float32.
#include <Eigen/Core>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kernels/cpu/const_weights.h"
#include "kernels/cpu/gemm_blas.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/lru_cache.h"
#include "kernels/cpu/matmul_amx.h"
#include "kernels/cpu/matmul_fused.h"
#include "kernels/cpu/register.h"
#include "tessel/ops.h"

namespace tessel::cpu {
namespace {

// ---- oneDNN ----
struct DnnlKey {
  int64_t b, m, k, n;
  int64_t sa[3], sb[3];
  int dtype;
  int threads;  // oneDNN fixes its thread partitioning when a primitive is created
  int64_t packed;  // 1: constant weights in the layout the primitive prefers
  bool operator==(const DnnlKey& o) const { return std::memcmp(this, &o, sizeof(DnnlKey)) == 0; }
};
static_assert(std::has_unique_object_representations_v<DnnlKey>, "DnnlKey must have no padding bytes");

struct MatmulPrim {
  dnnl::matmul prim;
  dnnl::memory::desc wei;  // the weights' layout the primitive wants
  bool two_d = false;      // a 2-D primitive (one matrix of packed constant weights)
  dnnl::memory::desc scratch;
};

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// The cached primitives run from any thread, several at once (the model server, Python threads). oneDNN's
// library scratchpad is shared by all primitives and bound to the thread that made them (dnnl_types.h,
// scratchpad_mode), so each primitive here takes its scratchpad from the call: two concurrent runs of a
// 2-thread matmul otherwise wrote each other's partial sums (wrong ONNX outputs, test_onnx_concurrency).
dnnl::primitive_attr own_scratchpad(dnnl::primitive_attr attr = {}) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}
void add_scratchpad(std::unordered_map<int, dnnl::memory>& args, const dnnl::memory::desc& md) {
  if (md.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(md, engine());  // this call's own
}

LruCache<DnnlKey, std::shared_ptr<MatmulPrim>>& dnnl_cache() {
  static LruCache<DnnlKey, std::shared_ptr<MatmulPrim>> c(256);
  return c;
}

// Constant weights (const_weights.h) reordered once into the primitive's
// layout, keyed by the primitive and the weights' address, checked against the
// storage they were made from (a freed storage's address can be reused).
struct PackedKey {
  DnnlKey k;
  uint64_t data;
  bool operator==(const PackedKey& o) const { return std::memcmp(this, &o, sizeof(PackedKey)) == 0; }
};
static_assert(std::has_unique_object_representations_v<PackedKey>, "PackedKey must have no padding bytes");
struct Packed {
  std::mutex mu;
  std::weak_ptr<StorageImpl> owner;
  Tensor holder;
  dnnl::memory mem;
};
LruCache<PackedKey, std::shared_ptr<Packed>>& packed_cache() {
  static LruCache<PackedKey, std::shared_ptr<Packed>> c(256);
  return c;
}

dnnl::memory::data_type dnnl_type(DType d) {
  return d == DType::BFloat16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

// Where oneDNN has no blocked weight layout (its brgemm matmul needs AVX-512),
// gemm:jit packs the weights on every call, and packing a 64-byte-aligned
// row-major [K, N] whose rows lie a multiple of 2 KiB apart ran up to 2x slower
// than packing its transpose (AVX2 AMD EPYC, 1 thread: 128x768 @ 768x3072 13.4
// vs 7.3 ms; BERT's FFN). A constant weight is then kept transposed ("ba"),
// except for a few rows, where the row-major product measured faster
// (1x768 @ 768x3072: 0.36 vs 0.52 ms).
constexpr int64_t kTransposedMinRows = 16;

// Small float32 products through oneDNN's sgemm call, which builds no primitive:
// the primitive's per-call costs (a cache lookup, three memory objects, the
// argument map) were most of a 32 x 32 product. Square products through
// ts.matmul, 1 thread, primitive -> sgemm: 8: 3.8 -> 1.8 us, 32: 4.4 -> 2.6,
// 64: 8.4 -> 7.0, 128: 40.9 -> 38.6; 2 threads 128: 26.1 -> 21.6; from 192 up
// the two measured the same (AMD EPYC VM). A batch of more than a few products
// keeps the primitive, which splits the batch over the threads (attention's
// [heads, L, d] products); the calls here run one after another.
constexpr double kSmallSgemm = 128.0 * 128.0 * 128.0;  // B * M * N * K
constexpr int64_t kSmallSgemmBatch = 4;

// A [rows, cols] matrix of t (each of its batch) as a row-major BLAS operand: 'N' with its row
// stride, or 'T' (stored transposed) with its column stride; false for other strides.
bool blas_layout(const Tensor& t, int64_t rows, int64_t cols, char& trans, int64_t& ld) {
  if (t.strides()[2] == 1 && t.strides()[1] >= std::max<int64_t>(cols, 1))
    trans = 'N', ld = t.strides()[1];
  else if (t.strides()[1] == 1 && t.strides()[2] >= std::max<int64_t>(rows, 1))
    trans = 'T', ld = t.strides()[2];
  else
    return false;
  return true;
}

// Each product of the batch through gemm(ta, tb, M, N, K, a, lda, b, ldb, c, ldc) (row-major BLAS
// operands); false where a layout is not one BLAS takes, or gemm refused.
template <class Gemm>
bool sgemm_each(const Tensor& a, const Tensor& b, const Tensor& out, Gemm&& gemm) {
  const int64_t B = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  char ta, tb;
  int64_t lda, ldb;
  if (!blas_layout(a, M, K, ta, lda) || !blas_layout(b, K, N, tb, ldb)) return false;
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* pc = out.data<float>();
  for (int64_t i = 0; i < B; ++i)
    if (!gemm(ta, tb, M, N, K, pa + i * a.strides()[0], lda, pb + i * b.strides()[0], ldb, pc + i * M * N, N))
      return false;  // only ever on the first: the refusals depend on the sizes alone
  return true;
}

bool small_sgemm(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t B = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  if (a.dtype() != DType::Float32 || B > kSmallSgemmBatch || static_cast<double>(B) * M * N * K > kSmallSgemm ||
      M == 0 || N == 0 || K == 0)
    return false;
  return sgemm_each(a, b, out,
                    [](char ta, char tb, int64_t m, int64_t n, int64_t k, const float* pa, int64_t lda, const float* pb,
                       int64_t ldb, float* pc, int64_t ldc) {
                      return dnnl_sgemm(ta, tb, m, n, k, 1.0f, pa, lda, pb, ldb, 0.0f, pc, ldc) == dnnl_success;
                    });
}

// Large float32 products through OpenBLAS's sgemm (gemm_blas.h): from 2^32 multiply-adds with
// every side at least 256, where both measured the same at 1,024^3 and 2,048^3 and oneDNN 2.6
// fell behind above (1 thread: 3,162^3 706 -> 404-409 ms, 3,072^3 1,186 -> 373-382; 2 threads
// 347 -> 209, 570 -> 192).
bool large_sgemm(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  if (a.dtype() != DType::Float32 || std::min({M, N, K}) < 256 || double(M) * double(N) * double(K) < 4294967296.0)
    return false;
  return sgemm_each(a, b, out, blas_sgemm);
}

// 1 row: one pass over b (gemv.h) beats oneDNN's packing; 2-4 rows too once b is past
// small_sgemm's sizes, but within them oneDNN's sgemm wins (x [M, K] @ w^T, w [N, K],
// one thread, Intel VM, gemv -> sgemm: K = N = 256 M = 2 7.7 -> 5.6 us, 3 10.2 -> 6.9,
// 4 13.4 -> 9.2; K = N = 512 M = 4 37.1 -> 30.0; K = N = 768 M = 3 126 -> 100).
void dnnl_matmul(const Tensor& a, const Tensor& b, const Tensor& out) {
  if (a.shape()[1] == 1 && gemv_f32(a, b, out)) return;
  if (small_sgemm(a, b, out)) return;
  if (gemv_f32(a, b, out)) return;
  if (large_sgemm(a, b, out)) return;
  using dims = dnnl::memory::dims;
  const int64_t B = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  DnnlKey key{};
  key.b = B, key.m = M, key.k = K, key.n = N;
  for (int i = 0; i < 3; ++i) key.sa[i] = a.strides()[i], key.sb[i] = b.strides()[i];
  key.dtype = static_cast<int>(a.dtype());
  key.threads = omp_get_max_threads();
  const auto dt = dnnl_type(a.dtype());
  const dnnl::memory::desc a_md(dims{B, M, K}, dt, dims{a.strides()[0], a.strides()[1], a.strides()[2]});
  const dnnl::memory::desc b_md(dims{B, K, N}, dt, dims{b.strides()[0], b.strides()[1], b.strides()[2]});
  const dnnl::memory::desc c_md(dims{B, M, N}, dt, dnnl::memory::format_tag::abc);
  // A single constant weight matrix is packed once (no batch of weights to pack).
  key.packed = (B == 1 || b.strides()[0] == 0) && is_constant_weight(b) ? 1 : 0;
  // 2-D views of a single product, for the packed primitive.
  const dnnl::memory::desc a2_md(dims{M, K}, dt, dims{a.strides()[1], a.strides()[2]});
  const dnnl::memory::desc c2_md(dims{M, N}, dt, dnnl::memory::format_tag::ab);
  auto prim = dnnl_cache().get(key, [&] {
    if (key.packed && B == 1) {
      // oneDNN 2.6 keeps plain weights for format_tag::any, and its f32 brgemm on plain
      // weights of some widths (K 768 x N 3072: BERT's FFN) measured 2x slower than on
      // column blocks: ask for its blocked layout; fall back when it has none here.
      try {
        const dnnl::memory::desc w_md(dims{K, N}, dt, dnnl::memory::format_tag::BA16a64b);
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a2_md, w_md, c2_md), own_scratchpad(), engine());
        if (!std::string(pd.impl_info_str()).starts_with("ref"))
          return std::make_shared<MatmulPrim>(MatmulPrim{dnnl::matmul(pd), pd.weights_desc(), true, pd.scratchpad_desc()});
      } catch (const dnnl::error&) {
      }
      if (M >= kTransposedMinRows) {  // no blocked layout here (AVX2): see kTransposedMinRows
        const dnnl::memory::desc w_md(dims{K, N}, dt, dnnl::memory::format_tag::ba);
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a2_md, w_md, c2_md), own_scratchpad(), engine());
        if (!std::string(pd.impl_info_str()).starts_with("ref"))
          return std::make_shared<MatmulPrim>(MatmulPrim{dnnl::matmul(pd), pd.weights_desc(), true, pd.scratchpad_desc()});
      }
    }
    const dnnl::memory::desc w_md = key.packed ? dnnl::memory::desc(dims{1, K, N}, dt, dnnl::memory::format_tag::any) : b_md;
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, w_md, c_md), own_scratchpad(), engine());
    return std::make_shared<MatmulPrim>(MatmulPrim{dnnl::matmul(pd), pd.weights_desc(), false, pd.scratchpad_desc()});
  });
  static thread_local dnnl::stream s(engine());  // one per thread, reused across calls
  dnnl::memory am(prim->two_d ? a2_md : a_md, engine(), a.data_ptr());
  dnnl::memory cm(prim->two_d ? c2_md : c_md, engine(), out.data_ptr());
  dnnl::memory bm;
  Tensor holder;
  const dnnl::memory::desc one_md = prim->two_d
                                        ? dnnl::memory::desc(dims{K, N}, dt, dims{b.strides()[1], b.strides()[2]})
                                        : dnnl::memory::desc(dims{1, K, N}, dt, dims{K * N, b.strides()[1], b.strides()[2]});
  if (key.packed && prim->wei == one_md) {
    bm = dnnl::memory(one_md, engine(), b.data_ptr());  // the plain layout is the one wanted: no copy
  } else if (key.packed) {
    PackedKey pk{};
    pk.k = key;
    pk.data = reinterpret_cast<uint64_t>(b.data_ptr());
    auto e = packed_cache().get(pk, [] { return std::make_shared<Packed>(); });
    std::lock_guard<std::mutex> lock(e->mu);
    if (e->owner.lock() != b.storage()) {  // first use, or a new storage at a reused address
      dnnl::memory user(one_md, engine(), b.data_ptr());
      e->holder = empty({static_cast<int64_t>(prim->wei.get_size()) + 64}, DType::UInt8);
      e->mem = dnnl::memory(prim->wei, engine(), e->holder.data_ptr());
      dnnl::reorder(user, e->mem).execute(s, user, e->mem);
      s.wait();
      e->owner = b.storage();
    }
    bm = e->mem;
    holder = e->holder;  // alive until this call is done, even if the entry is refilled
  } else {
    bm = dnnl::memory(b_md, engine(), b.data_ptr());
  }
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
  add_scratchpad(args, prim->scratch);
  prim->prim.execute(s, args);
  s.wait();
}

// Computes in float32 and rounds back (float16, and bfloat16 without CPU support).
void via_float32(const Tensor& a, const Tensor& b, const Tensor& out) {
  Tensor o32 = empty(out.shape(), TensorOptions(DType::Float32));
  dnnl_matmul(a.to(DType::Float32), b.to(DType::Float32), o32);
  Tensor o = out;
  o.copy_(o32);
}

// oneDNN 2.6's AMX bfloat16 matmul (brgemm) ran ~2.7x slower when M and K both end past a
// multiple of 32 (1 thread, 3162^3: 279 ms; K = 3168: 103 ms; M or K alone off: 85-107 ms), so
// a large product on AMX with such a shape reads copies of a and b with K zero-padded to the next
// multiple of 32 (the added products are 0 * 0): 118 ms, of which the copies ~15 (an unpadded
// K = 3168 took 103). PyTorch's oneDNN 3.13 takes 57-69 ms there. On 2 threads M off alone
// was the slow case (K = 3168, N = 3162: M = 3162 178 ms, M = 3168 69 ms; 1 thread 138-141
// either way), so there a's rows are zero-padded too and the product's extra rows dropped.
bool amx_padded(const Tensor& a, const Tensor& b, const Tensor& out) {
  static const bool amx = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_amx);
    return (isa & want) == want;
  }();
  const int64_t M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  if (!amx || double(M) * double(K) * double(N) < double(1 << 27)) return false;
  const int64_t pk = (K % 32 != 0 && M % 32 != 0) ? (K + 31) / 32 * 32 - K : 0;
  const int64_t pm = (M % 32 != 0 && omp_get_max_threads() > 1) ? (M + 31) / 32 * 32 - M : 0;
  if (pk == 0 && pm == 0) return false;
  const Tensor ap = pad(a, {0, pk, 0, pm});
  Tensor bp = b;
  if (pk && b.strides()[0] == 0 && b.shape()[0] > 1)  // one weight shared by the batch: padded once
    bp = pad(b.narrow(0, 0, 1), {0, 0, 0, pk}).expand({b.shape()[0], K + pk, N});
  else if (pk)
    bp = pad(b, {0, 0, 0, pk});
  if (pm == 0) {
    dnnl_matmul(ap, bp, out);
    return true;
  }
  const Tensor full = empty({a.shape()[0], M + pm, N}, TensorOptions(out.dtype()));
  dnnl_matmul(ap, bp, full);
  Tensor o = out;
  o.copy_(full.narrow(1, 0, M));
  return true;
}

// Native bf16 only (AVX512-BF16, AMX): oneDNN's bf16 gemm on other CPUs measured
// 4-5x slower than float32 (bench/README.md, bench_amp.py).
bool native_bf16() {
  static const bool supported = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    if ((isa & want) != want) return false;
    try {
      const dnnl::memory::desc md({1, 2, 2}, dnnl::memory::data_type::bf16, dnnl::memory::format_tag::abc);
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md, md, md), engine());
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return supported;
}

void bf16_matmul(const KernelCall& c) {
  if (gemv_bf16(c.in[0], c.in[1], c.out[0])) return;  // 1-4 rows: the weights streamed once, in place
  if (amx_bf16_matmul(c.in[0], c.in[1], c.out[0])) return;  // large products: own AMX kernel
  if (native_bf16() && amx_padded(c.in[0], c.in[1], c.out[0])) return;
  if (native_bf16())
    dnnl_matmul(c.in[0], c.in[1], c.out[0]);
  else via_float32(c.in[0], c.in[1], c.out[0]);
}

// ---- Eigen ----
template <class T>
void eigen_matmul(const KernelCall& c) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Strides = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  const Tensor &a = c.in[0], &b = c.in[1], &out = c.out[0];
  const int64_t B = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  const T* pa = static_cast<const T*>(a.data_ptr());
  const T* pb = static_cast<const T*>(b.data_ptr());
  T* pc = static_cast<T*>(out.data_ptr());
  for (int64_t i = 0; i < B; ++i) {
    Eigen::Map<const Mat, 0, Strides> A(pa + i * a.strides()[0], M, K, Strides(a.strides()[1], a.strides()[2]));
    Eigen::Map<const Mat, 0, Strides> Bm(pb + i * b.strides()[0], K, N, Strides(b.strides()[1], b.strides()[2]));
    Eigen::Map<Mat> C(pc + i * M * N, M, N);
    C.noalias() = A * Bm;
  }
}

const bool registered = [] {
  Registry::get().add(op::matmul, DeviceType::CPU, DType::Float32,
                      [](const KernelCall& c) { dnnl_matmul(c.in[0], c.in[1], c.out[0]); });
  Registry::get().add(op::matmul, DeviceType::CPU, DType::BFloat16, &bf16_matmul);
  Registry::get().add(op::matmul, DeviceType::CPU, DType::Float16,
                      [](const KernelCall& c) { via_float32(c.in[0], c.in[1], c.out[0]); });
  register_for(IntTypes{} + TypeList<double>{} + ComplexTypes{}, op::matmul,
               []<class T>(std::type_identity<T>) -> Kernel { return &eigen_matmul<T>; });
  return true;
}();

// "linear_bias" (by name; linear in src/ops/linalg.cpp): in x [M, K] and weight [N, K] (any
// strides), bias [N]; out [M, N] contiguous: x weight^T + bias as one oneDNN matmul with the
// bias added in its epilogue (matmul_fused below), not a second pass over the output.
// bfloat16: the products summed in float32 and the bias added before the one rounding to
// bfloat16 (matmul then add rounded twice, in two passes): 1-4 rows by gemv_bf16 (the weight
// read in place), large products on AMX by matmul_amx.cpp, the rest by oneDNN where the CPU has
// bfloat16 natively; other CPUs compute in float32 and round once.
void bf16_linear_bias(const KernelCall& c) {
  const Tensor &x = c.in[0], w = c.in[1].t(), &bias = c.in[2];
  if (gemv_bf16(x.unsqueeze(0), w.unsqueeze(0), c.out[0].unsqueeze(0), bias)) return;
  if (amx_bf16_matmul(x.unsqueeze(0), w.unsqueeze(0), c.out[0].unsqueeze(0), bias)) return;
  if (native_bf16()) {
    matmul_fused(x, w, bias, MatmulAct::none, nullptr, c.out[0]);
    return;
  }
  Tensor o = c.out[0];
  o.copy_(matmul_fused(x.to(DType::Float32), w.to(DType::Float32), bias.to(DType::Float32), MatmulAct::none));
}

// float32: products of 2 rows or more within small_sgemm's sizes by oneDNN's sgemm call
// and then the bias over the output, still in L1 (the rows' order as dnnl_matmul's); the
// rest by matmul_fused (1-4 rows by gemv, else the matmul primitive with the bias in its
// epilogue, which paid its per-call costs on small products). F.linear, x [M, 256] and a
// [256, 256] weight, one thread, Intel VM: M = 3 10.2 -> 6.9 us, 8 22.5 -> 14.8, 16 28.0
// -> 26.6 (PyTorch 7.5, 14.6-21.6, 25.4-31.8).
void f32_linear_bias(const KernelCall& c) {
  const Tensor &x = c.in[0], w = c.in[1].t(), &bias = c.in[2], &out = c.out[0];
  const int64_t M = x.shape()[0];
  if (M > 1 && small_sgemm(x.unsqueeze(0), w.unsqueeze(0), out.unsqueeze(0))) {
    bias_relu(out.data<float>(), bias, false, M, w.shape()[1]);  // bias: contiguous (linear_bias)
    return;
  }
  matmul_fused(x, w, bias, MatmulAct::none, nullptr, out);
}

const bool linear_registered = [] {
  const OpId op = Registry::get().op_id("linear_bias");
  Registry::get().add(op, DeviceType::CPU, DType::Float32, &f32_linear_bias);
  Registry::get().add(op, DeviceType::CPU, DType::BFloat16, &bf16_linear_bias);
  return true;
}();

// ---- fused (matmul_fused.h) ----
struct FusedKey {
  int64_t m, k, n, sw[2], dtype;
  int act, bias, threads, packed;
  uint64_t data;  // the packed weights' address (0 when not packed)
  bool operator==(const FusedKey& o) const { return std::memcmp(this, &o, sizeof(FusedKey)) == 0; }
};
static_assert(std::has_unique_object_representations_v<FusedKey>, "FusedKey must have no padding bytes");
struct FusedPrim {
  dnnl::matmul prim;
  dnnl::memory::desc wei, scratch;
  std::mutex mu;  // guards the packed weights below
  std::weak_ptr<StorageImpl> owner;
  Tensor holder;
  dnnl::memory mem;
};
LruCache<FusedKey, std::shared_ptr<FusedPrim>>& fused_cache() {
  static LruCache<FusedKey, std::shared_ptr<FusedPrim>> c(256);
  return c;
}

}  // namespace

struct MatmulSite {
  std::mutex mu;
  bool ready = false;
  FusedKey key{};
  const void* w_data = nullptr;
  std::weak_ptr<StorageImpl> w_owner;
  std::shared_ptr<FusedPrim> prim;
  Tensor w_holder;
  dnnl::memory a, c, bias;
  std::unordered_map<int, dnnl::memory> args;
};

std::shared_ptr<MatmulSite> make_matmul_site() { return std::make_shared<MatmulSite>(); }

bool matmul_fused_supported(const Tensor& a, const Tensor& w, const Tensor& bias) {
  auto cpu32 = [](const Tensor& t) { return t.device().type == DeviceType::CPU && t.dtype() == DType::Float32; };
  return cpu32(a) && cpu32(w) && a.dim() == 2 && w.dim() == 2 && a.shape()[1] == w.shape()[0] && a.shape()[0] > 0 &&
         a.shape()[1] > 0 && w.shape()[1] > 0 &&
         (!bias.defined() || (cpu32(bias) && bias.dim() == 1 && bias.shape()[0] == w.shape()[1]));
}

Tensor matmul_fused(const Tensor& a0, const Tensor& w, const Tensor& bias0, MatmulAct act, MatmulSite* site,
                    const Tensor& out0) {
  using dims = dnnl::memory::dims;
  using tag = dnnl::memory::format_tag;
  const DType dtype = a0.dtype();
  const auto dt = dnnl_type(dtype);
  const Tensor a = a0.contiguous();
  const int64_t M = a.shape()[0], K = a.shape()[1], N = w.shape()[1];
  if (M <= 4 && dtype == DType::Float32 && (act == MatmulAct::none || act == MatmulAct::relu)) {
    // A few rows (a served request, batch 1): one pass over the weights (gemv.h),
    // then the bias and ReLU over the small output.
    Tensor out = out0.defined() ? out0 : empty({M, N}, TensorOptions(dtype));
    const Tensor bc = bias0.defined() ? bias0.contiguous() : Tensor();
    if (gemv_f32(a.unsqueeze(0), w.unsqueeze(0), out.unsqueeze(0), bc, act == MatmulAct::relu)) return out;
  }
  FusedKey key{};
  key.m = M, key.k = K, key.n = N, key.sw[0] = w.strides()[0], key.sw[1] = w.strides()[1];
  key.dtype = static_cast<int64_t>(dtype);
  key.act = static_cast<int>(act);
  key.bias = bias0.defined();
  key.threads = omp_get_max_threads();
  static thread_local dnnl::stream s(engine());
  const Tensor bias = bias0.defined() ? bias0.contiguous() : Tensor();
  std::unique_lock<std::mutex> lock;
  if (site) lock = std::unique_lock<std::mutex>(site->mu, std::try_to_lock);
  MatmulSite* sl = lock.owns_lock() ? site : nullptr;
  // The site's last call had these shapes and this weight (its packed flag and
  // address are part of the key: compared with everything else but them).
  if (sl && sl->ready && sl->w_data == w.data_ptr() && sl->w_owner.lock() == w.storage()) {
    FusedKey k2 = key;
    k2.packed = sl->key.packed, k2.data = sl->key.data;
    if (k2 == sl->key) {
      Tensor out = out0.defined() ? out0 : empty({M, N}, TensorOptions(dtype));
      sl->a.set_data_handle(a.data_ptr());
      sl->c.set_data_handle(out.data_ptr());
      if (bias.defined()) sl->bias.set_data_handle(bias.data_ptr());
      sl->prim->prim.execute(s, sl->args);  // args hold the site's scratchpad: one call at a time uses it
      s.wait();
      return out;
    }
  }
  key.packed = is_constant_weight(w);
  key.data = key.packed ? reinterpret_cast<uint64_t>(w.data_ptr()) : 0;
  const dnnl::memory::desc a_md(dims{M, K}, dt, tag::ab), c_md(dims{M, N}, dt, tag::ab);
  const dnnl::memory::desc w_plain(dims{K, N}, dt, dims{w.strides()[0], w.strides()[1]});
  const dnnl::memory::desc b_md(dims{1, N}, dt, tag::ab);
  auto e = fused_cache().get(key, [&] {
    dnnl::post_ops ops;
    if (act == MatmulAct::relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    if (act == MatmulAct::gelu_erf) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    if (act == MatmulAct::gelu_tanh) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_tanh, 0.0f, 0.0f);
    dnnl::primitive_attr attr = own_scratchpad();
    attr.set_post_ops(ops);
    auto make = [&](const dnnl::memory::desc& wmd) {
      return key.bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, wmd, b_md, c_md), attr, engine())
                      : dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, wmd, c_md), attr, engine());
    };
    auto r = std::make_shared<FusedPrim>();
    if (key.packed) {  // column blocks, as the unfused kernel (measured faster than plain)
      try {            // bfloat16: the layout oneDNN prefers (pairs of rows interleaved in its blocks)
        auto pd = make(dnnl::memory::desc(dims{K, N}, dt, dtype == DType::BFloat16 ? tag::any : tag::BA16a64b));
        if (!std::string(pd.impl_info_str()).starts_with("ref")) {
          r->prim = dnnl::matmul(pd);
          r->wei = pd.weights_desc();
          r->scratch = pd.scratchpad_desc();
          return r;
        }
      } catch (const dnnl::error&) {
      }
      if (M >= kTransposedMinRows) {  // no blocked layout here (AVX2): see kTransposedMinRows
        auto pd = make(dnnl::memory::desc(dims{K, N}, dt, tag::ba));
        if (!std::string(pd.impl_info_str()).starts_with("ref")) {
          r->prim = dnnl::matmul(pd);
          r->wei = pd.weights_desc();
          r->scratch = pd.scratchpad_desc();
          return r;
        }
      }
    }
    auto pd = make(w_plain);
    r->prim = dnnl::matmul(pd);
    r->wei = pd.weights_desc();
    r->scratch = pd.scratchpad_desc();
    return r;
  });
  Tensor out = out0.defined() ? out0 : empty({M, N}, TensorOptions(dtype));
  dnnl::memory am(a_md, engine(), a.data_ptr()), cm(c_md, engine(), out.data_ptr());
  dnnl::memory wm;
  Tensor holder;
  if (e->wei == w_plain) {
    wm = dnnl::memory(w_plain, engine(), w.data_ptr());
  } else {
    std::lock_guard<std::mutex> lock(e->mu);
    if (e->owner.lock() != w.storage()) {  // first use, or a new storage at a reused address
      dnnl::memory user(w_plain, engine(), w.data_ptr());
      e->holder = empty({static_cast<int64_t>(e->wei.get_size()) + 64}, DType::UInt8);
      e->mem = dnnl::memory(e->wei, engine(), e->holder.data_ptr());
      dnnl::reorder(user, e->mem).execute(s, user, e->mem);
      s.wait();
      e->owner = w.storage();
    }
    wm = e->mem;
    holder = e->holder;
  }
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, cm}};
  if (bias.defined()) args[DNNL_ARG_BIAS] = dnnl::memory(b_md, engine(), bias.data_ptr());
  add_scratchpad(args, e->scratch);
  e->prim.execute(s, args);
  s.wait();
  // The site keeps this call's objects for the next one: constant weights only
  // (another weight at the same address may hold new values).
  if (sl && key.packed) {
    sl->ready = false;
    sl->key = key;
    sl->w_data = w.data_ptr();
    sl->w_owner = w.storage();
    sl->prim = e;
    sl->w_holder = holder;
    sl->a = am, sl->c = cm;
    sl->args = args;
    if (bias.defined()) sl->bias = args[DNNL_ARG_BIAS];
    sl->ready = true;
  }
  return out;
}

namespace {
struct AttnKey {
  int64_t d[5];  // B, H, L, D, S
  int64_t sa[4], sb[4], m[4];  // strides of a and b; the mask's dims (0: no mask)
  int64_t scale, threads;      // scale: the float's bits
  bool operator==(const AttnKey& o) const { return std::memcmp(this, &o, sizeof(AttnKey)) == 0; }
};
static_assert(std::has_unique_object_representations_v<AttnKey>, "AttnKey must have no padding bytes");
struct AttnPrim {
  bool usable = false;  // false: a reference implementation (slower than the composed ops)
  dnnl::matmul mm;
  dnnl::softmax_forward sm;
  dnnl::memory::desc mm_scratch, sm_scratch;
};
LruCache<AttnKey, std::shared_ptr<AttnPrim>>& attn_cache() {
  static LruCache<AttnKey, std::shared_ptr<AttnPrim>> c(64);
  return c;
}
}  // namespace

bool attention_probs_supported(const Tensor& a, const Tensor& b, const Tensor& mask) {
  auto cpu32 = [](const Tensor& t) { return t.device().type == DeviceType::CPU && t.dtype() == DType::Float32; };
  if (!cpu32(a) || !cpu32(b) || a.dim() != 4 || b.dim() != 4 || a.numel() == 0 || b.numel() == 0) return false;
  for (int i = 0; i < 2; ++i)
    if (a.shape()[i] != b.shape()[i]) return false;
  if (a.shape()[3] != b.shape()[2]) return false;
  if (!mask.defined()) return true;
  if (!cpu32(mask) || mask.dim() != 4) return false;
  const int64_t want[4] = {a.shape()[0], a.shape()[1], a.shape()[2], b.shape()[3]};
  for (int i = 0; i < 4; ++i)
    if (mask.shape()[i] != 1 && mask.shape()[i] != want[i]) return false;
  return true;
}

Tensor attention_probs(const Tensor& a, const Tensor& b, const Tensor& mask0, float scale) {
  using dims = dnnl::memory::dims;
  const auto dt = dnnl::memory::data_type::f32;
  const Tensor mask = mask0.defined() ? mask0.contiguous() : Tensor();
  AttnKey key{};
  const int64_t B = a.shape()[0], H = a.shape()[1], L = a.shape()[2], D = a.shape()[3], S = b.shape()[3];
  key.d[0] = B, key.d[1] = H, key.d[2] = L, key.d[3] = D, key.d[4] = S;
  for (int i = 0; i < 4; ++i) {
    key.sa[i] = a.strides()[i], key.sb[i] = b.strides()[i];
    key.m[i] = mask.defined() ? mask.shape()[i] : 0;
  }
  key.scale = std::bit_cast<int32_t>(scale);
  key.threads = omp_get_max_threads();
  const dnnl::memory::desc a_md(dims{B, H, L, D}, dt, dims(a.strides().begin(), a.strides().end()));
  const dnnl::memory::desc b_md(dims{B, H, D, S}, dt, dims(b.strides().begin(), b.strides().end()));
  const dnnl::memory::desc c_md(dims{B, H, L, S}, dt, dnnl::memory::format_tag::abcd);
  const dnnl::memory::desc m_md = mask.defined() ? dnnl::memory::desc(dims(mask.shape().begin(), mask.shape().end()),
                                                                      dt, dnnl::memory::format_tag::abcd)
                                                 : dnnl::memory::desc();
  auto prim = attn_cache().get(key, [&] {
    auto r = std::make_shared<AttnPrim>();
    try {
      dnnl::post_ops ops;
      if (scale != 1.0f) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, scale, 0.0f);
      if (mask.defined()) ops.append_binary(dnnl::algorithm::binary_add, m_md);
      dnnl::primitive_attr attr = own_scratchpad();
      attr.set_post_ops(ops);
      const dnnl::matmul::primitive_desc mpd(dnnl::matmul::desc(a_md, b_md, c_md), attr, engine());
      const dnnl::softmax_forward::primitive_desc spd(
          dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, c_md, 3), own_scratchpad(), engine());
      r->mm_scratch = mpd.scratchpad_desc(), r->sm_scratch = spd.scratchpad_desc();
      r->usable = !std::string(mpd.impl_info_str()).starts_with("ref") &&
                  !std::string(spd.impl_info_str()).starts_with("ref");
      if (r->usable) r->mm = dnnl::matmul(mpd), r->sm = dnnl::softmax_forward(spd);
    } catch (const dnnl::error&) {  // unimplemented for these operands
      r->usable = false;
    }
    return r;
  });
  if (!prim->usable) return Tensor();
  static thread_local dnnl::stream s(engine());
  Tensor out = empty({B, H, L, S}, TensorOptions(DType::Float32));
  dnnl::memory am(a_md, engine(), a.data_ptr()), bm(b_md, engine(), b.data_ptr()), cm(c_md, engine(), out.data_ptr());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
  if (mask.defined()) {
    const int idx = scale != 1.0f ? 1 : 0;  // the binary post-op's position
    args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) | DNNL_ARG_SRC_1] = dnnl::memory(m_md, engine(), mask.data_ptr());
  }
  add_scratchpad(args, prim->mm_scratch);
  prim->mm.execute(s, args);
  std::unordered_map<int, dnnl::memory> sm_args{{DNNL_ARG_SRC, cm}, {DNNL_ARG_DST, cm}};
  add_scratchpad(sm_args, prim->sm_scratch);
  prim->sm.execute(s, sm_args);
  s.wait();
  return out;
}

}  // namespace tessel::cpu
