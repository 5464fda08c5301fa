// Factorizations and solvers (tessel/linalg.h): validate -> promote ->
// broadcast the batch dims -> flatten to [B, m, n] -> one LAPACK kernel call
// (kernels/cpu/linalg_lapack.cpp) -> check info. Broadcasting and the vector /
// right-hand forms are differentiable views around one recorded core per op.
#include <cmath>
#include <complex>

#include "src/autograd/rules_linalg_lapack.h"
#include "tessel/elementwise.h"
#include "tessel/linalg.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel::linalg {
namespace {

const OpId kSolve = Registry::get().op_id("linalg_solve");
const OpId kLuFactor = Registry::get().op_id("linalg_lu_factor");
const OpId kLuSolve = Registry::get().op_id("linalg_lu_solve");
const OpId kCholesky = Registry::get().op_id("linalg_cholesky");
const OpId kQr = Registry::get().op_id("linalg_qr");
const OpId kEigh = Registry::get().op_id("linalg_eigh");
const OpId kSvd = Registry::get().op_id("linalg_svd");
const OpId kEig = Registry::get().op_id("linalg_eig");
const OpId kSolveTriangular = Registry::get().op_id("linalg_solve_triangular");
const OpId kLdlFactor = Registry::get().op_id("linalg_ldl_factor");
const OpId kLdlSolve = Registry::get().op_id("linalg_ldl_solve");

bool lapack_dtype(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Complex64 || d == DType::Complex128;
}

void check_dtype(const char* op, const Tensor& A) {
  TS_CHECK(lapack_dtype(A.dtype()), TypeError, op,
           "expects a float32, float64, complex64 or complex128 tensor, got ", A.dtype());
}

void check_matrix(const char* op, const Tensor& A, bool square) {
  TS_CHECK(A.defined(), ValueError, op, "expects a tensor, got an undefined one");
  TS_CHECK(A.dim() >= 2, ValueError, op, "expects a tensor with at least 2 dims [..., m, n], got shape ", A.shape());
  check_dtype(op, A);
  TS_CHECK(!square || A.size(-1) == A.size(-2), ValueError, op, "expects square matrices [..., n, n], got shape ",
           A.shape());
}

Shape batch_of(const Tensor& t, int64_t tail = 2) { return Shape(t.shape().begin(), t.shape().end() - tail); }

Shape with_tail(Shape s, std::initializer_list<int64_t> tail) {
  s.insert(s.end(), tail);
  return s;
}

TensorOptions opts(DType d, const Tensor& like) { return TensorOptions(d, like.device()); }

// `t` [batch..., tail...] as [nb, tail...] (a view of the contiguous tensors
// handed to the kernels); placeholders with fewer dims (unused outputs) as they are.
Tensor fl(const Tensor& t, int64_t tail, int64_t nb) {
  if (t.dim() < tail) return t;
  Shape s{nb};
  s.insert(s.end(), t.shape().end() - tail, t.shape().end());
  return t.reshape(s);
}

// The first non-zero info as an error naming the batch element (torch's wording).
template <class Msg>
void check_info(const char* op, const Tensor& info, Msg&& message) {
  const int* p = info.data<int>();
  const int64_t n = info.numel();
  for (int64_t b = 0; b < n; ++b) {
    if (p[b] == 0) continue;
    if (info.dim() == 0) fail<Error>(op, message(p[b]));
    fail<Error>(op, "(Batch element ", b, "): ", message(p[b]));
  }
}

std::string singular_msg(int) { return "The solver failed because the input matrix is singular."; }

// A X = B with A [..., n, n] and B [..., n, k] of the same batch and dtype.
std::pair<Tensor, Tensor> solve_core(const Tensor& A, const Tensor& B) {
  const Shape batch = batch_of(A);
  const int64_t n = A.size(-1), k = B.size(-1), nb = shape_numel(batch);
  Tensor info = zeros(batch, opts(DType::Int32, A));
  Tensor X = autograd::recorded(
      autograd::needs_grad(A, B),
      [&] {
        Tensor x = empty(with_tail(batch, {n, k}), opts(A.dtype(), A));
        if (nb > 0 && n > 0) {
          const Tensor in[2] = {fl(A.contiguous(), 2, nb), fl(B.contiguous(), 2, nb)};
          Tensor out[2] = {fl(x, 2, nb), fl(info, 0, nb)};
          dispatch(kSolve, A.dtype(), in, out);
        }
        return x;
      },
      [&](const Tensor& x) { autograd::rules::linalg_solve(A, B, x); });
  return {X, info};
}

// Promotes and broadcasts A [..., n, n] and B ([..., n, k] or a vector [..., n]) for solve-like ops.
struct SolveArgs {
  Tensor A, B;
  bool vector = false;
};
SolveArgs solve_args(const char* op, const Tensor& A, const Tensor& B, bool left) {
  check_matrix(op, A, true);
  TS_CHECK(B.defined() && B.dim() >= 1, ValueError, op, "expects B with at least 1 dim");
  check_dtype(op, B);
  const DType dt = result_type({&A, &B});
  Tensor a = A.to(dt), b = B.to(dt);
  const Shape a_lead(A.shape().begin(), A.shape().end() - 1);
  const bool vec = b.dim() == 1 || (b.dim() == a.dim() - 1 && b.shape() == a_lead);
  if (!left) {
    a = a.mT();
    if (!vec) b = b.mT();
  }
  if (vec) b = b.unsqueeze(-1);
  const int64_t n = a.size(-1), k = b.size(-1);
  TS_CHECK(b.size(-2) == n, ValueError, op, "incompatible shapes of A ", A.shape(), " and B ", B.shape(),
           left ? " (A X = B)" : " (X A = B)");
  const Shape batch = broadcast_shapes(op, batch_of(a), batch_of(b));
  return {broadcast_to(a, with_tail(batch, {n, n})), broadcast_to(b, with_tail(batch, {n, k})), vec};
}

Tensor solve_result(const SolveArgs& s, Tensor X, bool left) {
  if (s.vector) return X.squeeze(-1);
  return left ? X : X.mT();
}

// det or (sign, log|det|) of each matrix from its LU factors, on the host.
template <class T>
void det_from_lu(const Tensor& lu, const Tensor& piv, int64_t nb, int64_t n, Tensor* det, Tensor* sign,
                 Tensor* logabs) {
  using R = decltype(std::abs(T()));
  const T* a = lu.data<T>();
  const int* p = piv.data<int>();
  for (int64_t b = 0; b < nb; ++b) {
    T s(1);
    R la = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T d = a[b * n * n + i * n + i];
      if (p[b * n + i] != i + 1) s = -s;
      const R ad = std::abs(d);
      if (ad == R(0)) {
        s = T(0);
        la = -INFINITY;
      } else if (s != T(0)) {
        s *= d / ad;
        la += std::log(ad);
      }
    }
    if (det) det->data<T>()[b] = s == T(0) ? T(0) : s * T(std::exp(la));
    if (sign) sign->data<T>()[b] = s;
    if (logabs) logabs->data<R>()[b] = la;
  }
}

}  // namespace

std::pair<Tensor, Tensor> solve_ex(const Tensor& A, const Tensor& B, bool left, bool check_errors) {
  OpScope scope_("linalg.solve");
  const SolveArgs s = solve_args("linalg.solve", A, B, left);
  auto [X, info] = solve_core(s.A, s.B);
  if (check_errors) check_info("linalg.solve", info, singular_msg);
  return {solve_result(s, X, left), info};
}

// Traced by name so that export names them (ONNX has no solve or inverse).
Tensor solve(const Tensor& A, const Tensor& B, bool left) {
  if (trace::Op t{"linalg.solve"}) return t.in(A).in(B).attr("left", int64_t{left}).out(solve(A, B, left));
  return solve_ex(A, B, left, true).first;
}

std::pair<Tensor, Tensor> inv_ex(const Tensor& A, bool check_errors) {
  OpScope scope_("linalg.inv");
  check_matrix("linalg.inv", A, true);
  const int64_t n = A.size(-1);
  const Tensor I = broadcast_to(eye(n, {}, opts(A.dtype(), A)), A.shape());
  auto [X, info] = solve_core(A, I);
  if (check_errors) check_info("linalg.inv", info, singular_msg);
  return {X, info};
}

Tensor inv(const Tensor& A) {
  if (trace::Op t{"linalg.inv"}) return t.in(A).out(inv(A));
  return inv_ex(A, true).first;
}

Tensor lu_pivots_to_permutation(const Tensor& pivots, int64_t m, DType dtype) {
  const char* op = "linalg.lu_unpack";
  TS_CHECK(pivots.defined() && pivots.dtype() == DType::Int32 && pivots.dim() >= 1, TypeError, op,
           "expects int32 pivots [..., k]");
  const int64_t k = pivots.size(-1), nb = shape_numel(batch_of(pivots, 1));
  TS_CHECK(k <= m, ValueError, op, "pivots [..., ", k, "] do not fit matrices with ", m, " rows");
  const Tensor piv = pivots.contiguous();
  Tensor P = zeros(with_tail(batch_of(pivots, 1), {m, m}), opts(DType::Float64, pivots));
  const int* p = piv.data<int>();
  double* out = P.data<double>();
  std::vector<int64_t> perm(m);
  for (int64_t b = 0; b < nb; ++b) {
    // LAPACK swapped row i with row pivots[i] - 1, in turn; A = P L U puts row perm[j] of A at row j of L U.
    for (int64_t i = 0; i < m; ++i) perm[i] = i;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t j = p[b * k + i] - 1;
      TS_CHECK(j >= 0 && j < m, ValueError, op, "pivot ", j + 1, " is out of range [1, ", m, "]");
      std::swap(perm[i], perm[j]);
    }
    for (int64_t j = 0; j < m; ++j) out[b * m * m + perm[j] * m + j] = 1.0;
  }
  return P.to(dtype);
}

std::tuple<Tensor, Tensor, Tensor> lu_factor_ex(const Tensor& A, bool pivot, bool check_errors) {
  OpScope scope_("linalg.lu_factor");
  check_matrix("linalg.lu_factor", A, false);
  TS_CHECK(pivot, NotImplementedError, "linalg.lu_factor", "LU without pivoting is not implemented on the CPU");
  const Shape batch = batch_of(A);
  const int64_t m = A.size(-2), n = A.size(-1), nb = shape_numel(batch);
  const std::vector<Tensor> out = autograd::recorded(
      autograd::needs_grad(A),
      [&] {
        std::vector<Tensor> o{empty(A.shape(), opts(A.dtype(), A)),
                              zeros(with_tail(batch, {std::min(m, n)}), opts(DType::Int32, A)),
                              zeros(batch, opts(DType::Int32, A))};
        if (nb > 0) {
          const Tensor in[1] = {fl(A.contiguous(), 2, nb)};
          std::vector<Tensor> fo{fl(o[0], 2, nb), fl(o[1], 1, nb), fl(o[2], 0, nb)};
          dispatch(kLuFactor, A.dtype(), in, fo);
        }
        return o;
      },
      [&](const std::vector<Tensor>& o) {
        autograd::rules::linalg_lu_factor(A, o[0], lu_pivots_to_permutation(o[1], m, A.dtype()));
      });
  if (check_errors)
    check_info("linalg.lu_factor", out[2], [](int i) {
      return detail::cat("The factorization could not be completed because the input matrix is singular (U[", i - 1,
                         ", ", i - 1, "] is zero).");
    });
  return {out[0], out[1], out[2]};
}

namespace {
// lu_solve under autograd (real inputs): triangular solves on the unpacked factors of A = P L U, so the
// gradient reaches both LU and B through solve_triangular's rule. A X = B: X = U^-1 L^-1 P^T B;
// A^T X = B: X = P L^-T U^-T B; the right-hand forms are these on B^T.
Tensor lu_solve_by_ops(const Tensor& LU, const Tensor& pivots, const Tensor& B, bool left, bool adjoint) {
  const Tensor P = lu_pivots_to_permutation(pivots, LU.size(-1), LU.dtype());
  const Tensor b = left ? B : B.mT();
  const bool transposed = left ? adjoint : !adjoint;  // X A = B <=> A^T X^T = B^T
  Tensor X;
  if (transposed) {
    const Tensor y = solve_triangular(LU.mT(), b, /*upper=*/false);                       // U^-T b
    X = matmul(P, solve_triangular(LU.mT(), y, /*upper=*/true, true, /*unitriangular=*/true));  // P L^-T y
  } else {
    const Tensor y = solve_triangular(LU, matmul(P.mT(), b), /*upper=*/false, true, /*unitriangular=*/true);
    X = solve_triangular(LU, y, /*upper=*/true);
  }
  return left ? X : X.mT();
}
}  // namespace

Tensor lu_solve(const Tensor& LU, const Tensor& pivots, const Tensor& B, bool left, bool adjoint) {
  const char* op = "linalg.lu_solve";
  OpScope scope_(op);
  check_matrix(op, LU, true);
  check_matrix(op, B, false);
  TS_CHECK(pivots.defined() && pivots.dtype() == DType::Int32, TypeError, op, "expects pivots of dtype int32, got ",
           pivots.defined() ? pivots.dtype() : DType::Int32);
  const int64_t n = LU.size(-1);
  TS_CHECK(pivots.dim() >= 1 && pivots.size(-1) == n, ValueError, op, "pivots must be [..., ", n, "], got shape ",
           pivots.shape());
  const DType dt = result_type({&LU, &B});
  if (autograd::needs_grad(LU, B)) {
    TS_CHECK((left ? B.size(-2) : B.size(-1)) == n, ValueError, op, "incompatible shapes of LU ", LU.shape(),
             " and B ", B.shape());
    return lu_solve_by_ops(LU.to(dt), pivots, B.to(dt), left, adjoint);
  }
  const bool cplx = is_complex(dt);
  // Right-hand forms through the transpose: X A = B <=> A^T X^T = B^T; X A^H = B <=> A X^H = B^H.
  Tensor b = B.to(dt);
  int trans = adjoint ? (cplx ? 2 : 1) : 0;
  if (!left) {
    if (adjoint) {
      b = cplx ? conj(b.mT()) : b.mT();
      trans = 0;
    } else {
      b = b.mT();
      trans = 1;
    }
  }
  TS_CHECK(b.size(-2) == n, ValueError, op, "incompatible shapes of LU ", LU.shape(), " and B ", B.shape());
  const int64_t k = b.size(-1);
  Shape batch = broadcast_shapes(op, batch_of(LU), batch_of(b));
  batch = broadcast_shapes(op, batch, batch_of(pivots, 1));
  const Tensor lu = broadcast_to(LU.to(dt), with_tail(batch, {n, n})).contiguous();
  const Tensor p = broadcast_to(pivots, with_tail(batch, {n})).contiguous();
  b = broadcast_to(b, with_tail(batch, {n, k})).contiguous();
  std::vector<Tensor> out{empty(with_tail(batch, {n, k}), opts(dt, b))};
  LinalgParams params;
  params.trans = trans;
  if (const int64_t nb = shape_numel(batch); nb > 0) {
    const Tensor in[3] = {fl(lu, 2, nb), fl(p, 1, nb), fl(b, 2, nb)};
    std::vector<Tensor> fo{fl(out[0], 2, nb)};
    dispatch(kLuSolve, dt, in, fo, &params);
  }
  Tensor X = out[0];
  if (!left) X = adjoint && cplx ? conj(X.mT()) : X.mT();
  return X;
}

Tensor det(const Tensor& A) {
  if (trace::Op t{"det"}) return t.in(A).out(det(A));  // ONNX Det
  OpScope scope_("linalg.det");
  check_matrix("linalg.det", A, true);
  const Shape batch = batch_of(A);
  const int64_t n = A.size(-1), nb = shape_numel(batch);
  return autograd::recorded(
      autograd::needs_grad(A),
      [&] {
        Tensor d = empty(batch, opts(A.dtype(), A));
        if (nb == 0) return d;
        autograd::NoGradGuard guard;
        // Named, not a structured binding: Clang before 16 cannot capture those in a lambda.
        const auto f = lu_factor_ex(A, true, false);
        const Tensor& lu = std::get<0>(f);
        const Tensor& piv = std::get<1>(f);
        visit_dtype(A.dtype(), [&]<class T>(std::type_identity<T>) {
          if constexpr (is_complex_v<T> || std::is_floating_point_v<T>) {
            det_from_lu<T>(lu, piv, nb, n, &d, nullptr, nullptr);
          }
        });
        return d;
      },
      [&](const Tensor& d) { autograd::rules::linalg_det(A, d); });
}

std::pair<Tensor, Tensor> slogdet(const Tensor& A) {
  OpScope scope_("linalg.slogdet");
  check_matrix("linalg.slogdet", A, true);
  const Shape batch = batch_of(A);
  const int64_t n = A.size(-1), nb = shape_numel(batch);
  return autograd::recorded(
      autograd::needs_grad(A),
      [&] {
        Tensor sign = empty(batch, opts(A.dtype(), A)), la = empty(batch, opts(to_real(A.dtype()), A));
        if (nb == 0) return std::pair{sign, la};
        autograd::NoGradGuard guard;
        const auto f = lu_factor_ex(A, true, false);
        const Tensor& lu = std::get<0>(f);
        const Tensor& piv = std::get<1>(f);
        visit_dtype(A.dtype(), [&]<class T>(std::type_identity<T>) {
          if constexpr (is_complex_v<T> || std::is_floating_point_v<T>) {
            det_from_lu<T>(lu, piv, nb, n, nullptr, &sign, &la);
          }
        });
        return std::pair{sign, la};
      },
      [&](const std::pair<Tensor, Tensor>& r) { autograd::rules::linalg_slogdet(A, r.first, r.second); });
}

std::pair<Tensor, Tensor> cholesky_ex(const Tensor& A, bool upper, bool check_errors) {
  const char* op = "linalg.cholesky";
  OpScope scope_(op);
  check_matrix(op, A, true);
  const Shape batch = batch_of(A);
  const int64_t nb = shape_numel(batch);
  Tensor info = zeros(batch, opts(DType::Int32, A));
  Tensor L = autograd::recorded(
      autograd::needs_grad(A),
      [&] {
        std::vector<Tensor> out{empty(A.shape(), opts(A.dtype(), A)), info};
        if (nb > 0 && A.size(-1) > 0) {
          const Tensor in[1] = {fl(A.contiguous(), 2, nb)};
          std::vector<Tensor> fo{fl(out[0], 2, nb), fl(out[1], 0, nb)};
          dispatch(kCholesky, A.dtype(), in, fo);
        } else {
          out[0].zero_();
        }
        return out[0];
      },
      [&](const Tensor& l) { autograd::rules::linalg_cholesky(A, l); });
  if (check_errors)
    check_info(op, info, [](int i) {
      return detail::cat("The factorization could not be completed because the input is not positive-definite "
                         "(the leading minor of order ",
                         i, " is not positive-definite).");
    });
  if (upper) L = is_complex(L.dtype()) ? conj(L.mT()) : L.mT();
  return {L, info};
}

Tensor cholesky(const Tensor& A, bool upper) { return cholesky_ex(A, upper, true).first; }

std::pair<Tensor, Tensor> qr(const Tensor& A, const std::string& mode) {
  const char* op = "linalg.qr";
  OpScope scope_(op);
  check_matrix(op, A, false);
  TS_CHECK(mode == "reduced" || mode == "complete" || mode == "r", ValueError, op,
           "mode must be \"reduced\", \"complete\" or \"r\", got \"", mode, "\"");
  const Shape batch = batch_of(A);
  const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n), nb = shape_numel(batch);
  const int64_t mq = mode == "complete" ? m : k, kr = mode == "complete" ? m : k;
  LinalgParams params;
  params.mode = mode == "reduced" ? 0 : mode == "complete" ? 1 : 2;
  auto fwd = [&] {
    std::vector<Tensor> out{empty(with_tail(batch, {m, mode == "r" ? 0 : mq}), opts(A.dtype(), A)),
                            empty(with_tail(batch, {kr, n}), opts(A.dtype(), A))};
    if (nb > 0) {
      const Tensor in[1] = {fl(A.contiguous(), 2, nb)};
      std::vector<Tensor> fo{fl(out[0], 2, nb), fl(out[1], 2, nb)};
      dispatch(kQr, A.dtype(), in, fo, &params);
    }
    return std::pair{out[0], out[1]};
  };
  if (mode == "r") {
    TS_CHECK(!autograd::needs_grad(A), NotImplementedError, op,
             "the derivative of linalg.qr depends on Q, which is not computed when mode='r'; use mode='reduced'");
    auto r = fwd();
    return {empty({0}, opts(A.dtype(), A)), r.second};
  }
  return autograd::recorded(autograd::needs_grad(A), fwd, [&](const std::pair<Tensor, Tensor>& r) {
    autograd::rules::linalg_qr(A, r.first, r.second);
  });
}

namespace {
// One batched eigh/eig kernel call: values [..., n] of dtype `values`, vectors [..., n, n] of dtype `vectors`
// (empty without params.compute_v); LAPACK's info per matrix into `info`.
std::pair<Tensor, Tensor> spectral_call(OpId id, const Tensor& A, DType values, DType vectors,
                                        const LinalgParams& params, const Tensor& info) {
  const Shape batch = batch_of(A);
  const int64_t n = A.size(-1), nb = shape_numel(batch);
  std::vector<Tensor> o{empty(with_tail(batch, {n}), opts(values, A)),
                        params.compute_v ? empty(A.shape(), opts(vectors, A)) : empty({0}, opts(vectors, A)), info};
  if (nb > 0) {
    const Tensor in[1] = {fl(A.contiguous(), 2, nb)};
    std::vector<Tensor> fo{fl(o[0], 1, nb), fl(o[1], 2, nb), fl(o[2], 0, nb)};
    dispatch(id, A.dtype(), in, fo, &params);
  }
  return {o[0], o[1]};
}

std::pair<Tensor, Tensor> eigh_impl(const char* op, const Tensor& A, const std::string& UPLO, bool compute_v) {
  OpScope scope_(op);
  check_matrix(op, A, true);
  TS_CHECK(UPLO == "L" || UPLO == "U" || UPLO == "l" || UPLO == "u", ValueError, op,
           "UPLO must be \"L\" or \"U\", got \"", UPLO, "\"");
  LinalgParams params;
  params.upper = UPLO == "U" || UPLO == "u";
  params.compute_v = compute_v || autograd::needs_grad(A);
  const Tensor info = zeros(batch_of(A), opts(DType::Int32, A));
  auto r = autograd::recorded(
      autograd::needs_grad(A), [&] { return spectral_call(kEigh, A, to_real(A.dtype()), A.dtype(), params, info); },
      [&](const std::pair<Tensor, Tensor>& wv) { autograd::rules::linalg_eigh(A, wv.first, wv.second); });
  check_info(op, info, [](int i) {
    return detail::cat("The algorithm failed to converge because the input matrix is ill-conditioned or has too many "
                       "repeated eigenvalues (error code: ",
                       i, ").");
  });
  return r;
}

std::tuple<Tensor, Tensor, Tensor> svd_impl(const char* op, const Tensor& A, bool full, bool compute_uv) {
  OpScope scope_(op);
  check_matrix(op, A, false);
  const Shape batch = batch_of(A);
  const int64_t m = A.size(-2), n = A.size(-1), k = std::min(m, n), nb = shape_numel(batch);
  const bool grad = autograd::needs_grad(A);
  LinalgParams params;
  params.compute_v = compute_uv || grad;
  params.full = full && !grad;  // the rule works on the reduced factors; full ones are computed after
  const int64_t ku = params.full ? m : k, kv = params.full ? n : k;
  Tensor info = zeros(batch, opts(DType::Int32, A));
  auto r = autograd::recorded(
      grad,
      [&] {
        const TensorOptions o = opts(A.dtype(), A);
        std::vector<Tensor> out{params.compute_v ? zeros(with_tail(batch, {m, ku}), o) : empty({0}, o),
                                empty(with_tail(batch, {k}), opts(to_real(A.dtype()), A)),
                                params.compute_v ? zeros(with_tail(batch, {kv, n}), o) : empty({0}, o), info};
        if (nb > 0 && k > 0) {
          const Tensor in[1] = {fl(A.contiguous(), 2, nb)};
          std::vector<Tensor> fo{fl(out[0], 2, nb), fl(out[1], 1, nb), fl(out[2], 2, nb), fl(out[3], 0, nb)};
          dispatch(kSvd, A.dtype(), in, fo, &params);
        }
        return std::tuple{out[0], out[1], out[2]};
      },
      [&](const std::tuple<Tensor, Tensor, Tensor>& usv) {
        autograd::rules::linalg_svd(A, std::get<0>(usv), std::get<1>(usv), std::get<2>(usv));
      });
  check_info(op, info, [](int i) {
    return detail::cat("The algorithm failed to converge because the input matrix is ill-conditioned or has too many "
                       "repeated singular values (error code: ",
                       i, ").");
  });
  if (grad && full && compute_uv && (m != k || n != k)) {
    // Square factors under autograd: complete the bases from a no-grad full SVD (their extra columns
    // do not enter A = U S Vh, so their gradient is not defined; torch behaves alike).
    auto [Uf, Sf, Vhf] = svd_impl(op, A.detach(), true, true);  // no grad: A is detached
    Tensor U = std::get<0>(r), Vh = std::get<2>(r);
    if (m > k) U = cat({U, Uf.narrow(-1, k, m - k)}, -1);
    if (n > k) Vh = cat({Vh, Vhf.narrow(-2, k, n - k)}, -2);
    return {U, std::get<1>(r), Vh};
  }
  return r;
}
}  // namespace

std::pair<Tensor, Tensor> eigh(const Tensor& A, const std::string& UPLO) {
  return eigh_impl("linalg.eigh", A, UPLO, true);
}
Tensor eigvalsh(const Tensor& A, const std::string& UPLO) { return eigh_impl("linalg.eigvalsh", A, UPLO, false).first; }

std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& A, bool full_matrices) {
  return svd_impl("linalg.svd", A, full_matrices, true);
}
Tensor svdvals(const Tensor& A) { return std::get<1>(svd_impl("linalg.svdvals", A, false, false)); }

namespace {
std::pair<Tensor, Tensor> eig_impl(const char* op, const Tensor& A, bool compute_v) {
  OpScope scope_(op);
  check_matrix(op, A, true);
  const DType cd = is_complex(A.dtype()) ? A.dtype() : to_complex(A.dtype());
  LinalgParams params;
  params.compute_v = compute_v || autograd::needs_grad(A);  // eigvals' gradient needs the eigenvectors
  const Tensor info = zeros(batch_of(A), opts(DType::Int32, A));
  const auto out = autograd::recorded(
      autograd::needs_grad(A), [&] { return spectral_call(kEig, A, cd, cd, params, info); },
      [&](const std::pair<Tensor, Tensor>& lv) { autograd::rules::linalg_eig(A, lv.first, lv.second); });
  check_info(op, info, [](int i) {
    return detail::cat("The algorithm failed to converge (the QR algorithm computed only part of the eigenvalues; "
                       "error code: ",
                       i, ").");
  });
  return out;
}
}  // namespace

std::pair<Tensor, Tensor> eig(const Tensor& A) { return eig_impl("linalg.eig", A, true); }
Tensor eigvals(const Tensor& A) { return eig_impl("linalg.eigvals", A, false).first; }

Tensor solve_triangular(const Tensor& A, const Tensor& B, bool upper, bool left, bool unitriangular) {
  const char* op = "linalg.solve_triangular";
  OpScope scope_(op);
  check_matrix(op, A, true);
  check_matrix(op, B, false);
  const DType dt = result_type({&A, &B});
  Tensor a = A.to(dt), b = B.to(dt);
  if (!left) {  // X A = B <=> A^T X^T = B^T, with A^T's triangle the other one
    a = a.mT();
    b = b.mT();
    upper = !upper;
  }
  const int64_t n = a.size(-1), k = b.size(-1);
  TS_CHECK(b.size(-2) == n, ValueError, op, "incompatible shapes of A ", A.shape(), " and B ", B.shape(),
           left ? " (A X = B)" : " (X A = B)");
  const Shape batch = broadcast_shapes(op, batch_of(a), batch_of(b));
  a = broadcast_to(a, with_tail(batch, {n, n}));
  b = broadcast_to(b, with_tail(batch, {n, k}));
  LinalgParams params;
  params.upper = upper;
  params.unit = unitriangular;
  Tensor X = autograd::recorded(
      autograd::needs_grad(a, b),
      [&] {
        std::vector<Tensor> out{empty(with_tail(batch, {n, k}), opts(dt, a))};
        if (const int64_t nb = shape_numel(batch); nb > 0) {
          const Tensor in[2] = {fl(a.contiguous(), 2, nb), fl(b.contiguous(), 2, nb)};
          std::vector<Tensor> fo{fl(out[0], 2, nb)};
          dispatch(kSolveTriangular, dt, in, fo, &params);
        }
        return out[0];
      },
      [&](const Tensor& x) { autograd::rules::linalg_solve_triangular(a, b, x, upper, unitriangular); });
  return left ? X : X.mT();
}

std::tuple<Tensor, Tensor, Tensor> ldl_factor_ex(const Tensor& A, bool hermitian, bool check_errors) {
  const char* op = "linalg.ldl_factor";
  OpScope scope_(op);
  check_matrix(op, A, true);
  TS_CHECK(!autograd::needs_grad(A), NotImplementedError, op,
           "has no derivative (as in PyTorch): use cholesky/solve (differentiable), or pass A.detach()");
  const Shape batch = batch_of(A);
  const int64_t n = A.size(-1), nb = shape_numel(batch);
  std::vector<Tensor> out{empty(A.shape(), opts(A.dtype(), A)), zeros(with_tail(batch, {n}), opts(DType::Int32, A)),
                          zeros(batch, opts(DType::Int32, A))};
  LinalgParams params;
  params.mode = hermitian ? 1 : 0;
  if (nb > 0) {
    const Tensor in[1] = {fl(A.contiguous(), 2, nb)};
    std::vector<Tensor> fo{fl(out[0], 2, nb), fl(out[1], 1, nb), fl(out[2], 0, nb)};
    dispatch(kLdlFactor, A.dtype(), in, fo, &params);
  }
  if (check_errors)
    check_info(op, out[2], [](int i) {
      return detail::cat("The factorization could not be completed because the input matrix is singular (D[", i - 1,
                         ", ", i - 1, "] is zero).");
    });
  return {out[0], out[1], out[2]};
}

Tensor ldl_solve(const Tensor& LD, const Tensor& pivots, const Tensor& B, bool hermitian) {
  const char* op = "linalg.ldl_solve";
  OpScope scope_(op);
  check_matrix(op, LD, true);
  check_matrix(op, B, false);
  TS_CHECK(pivots.defined() && pivots.dtype() == DType::Int32, TypeError, op, "expects pivots of dtype int32, got ",
           pivots.defined() ? pivots.dtype() : DType::Int32);
  TS_CHECK(!autograd::needs_grad(LD, B), NotImplementedError, op,
           "has no derivative (as in PyTorch): use linalg.solve (differentiable)");
  const int64_t n = LD.size(-1), k = B.size(-1);
  TS_CHECK(pivots.dim() >= 1 && pivots.size(-1) == n, ValueError, op, "pivots must be [..., ", n, "], got shape ",
           pivots.shape());
  TS_CHECK(B.size(-2) == n, ValueError, op, "incompatible shapes of LD ", LD.shape(), " and B ", B.shape());
  const DType dt = result_type({&LD, &B});
  Shape batch = broadcast_shapes(op, batch_of(LD), batch_of(B));
  batch = broadcast_shapes(op, batch, batch_of(pivots, 1));
  const Tensor ld = broadcast_to(LD.to(dt), with_tail(batch, {n, n})).contiguous();
  const Tensor p = broadcast_to(pivots, with_tail(batch, {n})).contiguous();
  const Tensor b = broadcast_to(B.to(dt), with_tail(batch, {n, k})).contiguous();
  std::vector<Tensor> out{empty(with_tail(batch, {n, k}), opts(dt, b))};
  LinalgParams params;
  params.mode = hermitian ? 1 : 0;
  if (const int64_t nb = shape_numel(batch); nb > 0) {
    const Tensor in[3] = {fl(ld, 2, nb), fl(p, 1, nb), fl(b, 2, nb)};
    std::vector<Tensor> fo{fl(out[0], 2, nb)};
    dispatch(kLdlSolve, dt, in, fo, &params);
  }
  return out[0];
}

}  // namespace tessel::linalg
