// The host side of the CUDA kernels: builds the iterator metadata of the
// tensors (the CPU iterator's, kernels/cpu/strided_layout.h), launches on
// the device's current stream and registers each (op, dtype) for cuda.
#include <cstring>

#include "kernels/cuda/host.h"
#include "kernels/cuda/launch.h"
#include "src/cuda/runtime.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::cuda {
namespace {

void copy_kernel(const KernelCall& c) {
  const Tensor& src = c.in[0];
  Tensor& dst = c.out[0];
  if (dst.numel() == 0) return;
  const Layout<2> L = layout_of<2>({&dst, &src});
  on_device("copy", dst, [&](cudaStream_t s) {
    if (L.contiguous && src.dtype() == dst.dtype()) {
      check(cudaMemcpyAsync(L.ptrs[0], L.ptrs[1], dst.nbytes(), cudaMemcpyDeviceToDevice, s), "copy");
      return true;
    }
    return launch_copy(code(src.dtype()), code(dst.dtype()), L, s);
  });
}

void fill_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  // The value in the output's dtype, converted by the CPU's rules.
  const Tensor h = scalar_tensor(*static_cast<const Scalar*>(c.params), TensorOptions(out.dtype()));
  unsigned char value[16] = {};
  std::memcpy(value, h.data_ptr(), h.itemsize());
  const Layout<1> L = layout_of<1>({&out});
  on_device("fill", out, [&](cudaStream_t s) { return launch_fill(static_cast<int>(out.itemsize()), value, L, s); });
}

template <Binary B>
void binary_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Layout<3> L = layout_of<3>({&out, &c.in[0], &c.in[1]});
  on_device("binary", out, [&](cudaStream_t s) { return launch_binary(B, code(out.dtype()), L, s); });
}

template <Compare C>
void compare_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Layout<3> L = layout_of<3>({&out, &c.in[0], &c.in[1]});
  on_device("compare", out, [&](cudaStream_t s) { return launch_compare(C, code(c.in[0].dtype()), L, s); });
}

// logical_not and the predicates: one operand, read as both of compare's.
template <Compare C>
void predicate_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Layout<3> L = layout_of<3>({&out, &c.in[0], &c.in[0]});
  on_device("predicate", out, [&](cudaStream_t s) { return launch_compare(C, code(c.in[0].dtype()), L, s); });
}

void lerp_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Layout<4> L = layout_of<4>({&out, &c.in[0], &c.in[1], &c.in[2]});
  on_device("lerp", out, [&](cudaStream_t s) { return launch_lerp(code(out.dtype()), L, s); });
}

void where_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const Layout<4> L = layout_of<4>({&out, &c.in[0], &c.in[1], &c.in[2]});
  on_device("where", out, [&](cudaStream_t s) { return launch_where(code(out.dtype()), L, s); });
}

// Unary ops: the op passes UnaryParams or nothing (leaky_relu elu softplus round nan_to_num
// read theirs; the others ignore them).
template <Unary U>
void unary_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  UnaryArgs args;
  if (c.params) {
    const auto& p = *static_cast<const UnaryParams*>(c.params);
    args.a = p.a, args.b = p.b, args.c = p.c;
  }
  const Layout<2> L = layout_of<2>({&out, &c.in[0]});
  on_device("unary", out, [&](cudaStream_t s) { return launch_unary(U, code(out.dtype()), L, s, args); });
}

void clamp_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const auto& p = *static_cast<const ClampParams*>(c.params);
  UnaryArgs args;
  args.has_lo = p.has_min, args.has_hi = p.has_max;
  if (p.has_min) args.lo = p.min.to<double>(), args.ilo = p.min.to<int64_t>();
  if (p.has_max) args.hi = p.max.to<double>(), args.ihi = p.max.to<int64_t>();
  const Layout<2> L = layout_of<2>({&out, &c.in[0]});
  on_device("clamp", out, [&](cudaStream_t s) { return launch_unary(Unary::clamp, code(out.dtype()), L, s, args); });
}

// gelu's UnaryParams: a = 0 exact (erf), else the tanh approximation.
void gelu_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const bool approx = static_cast<const UnaryParams*>(c.params)->a != 0;
  const Layout<2> L = layout_of<2>({&out, &c.in[0]});
  on_device("gelu", out, [&](cudaStream_t s) {
    return launch_unary(approx ? Unary::gelu_tanh : Unary::gelu, code(out.dtype()), L, s);
  });
}

// "gelu_backward_fused": in g, x; out dx (autograd's first-order rule).
void gelu_backward_kernel(const KernelCall& c) {
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  const bool approx = static_cast<const UnaryParams*>(c.params)->a != 0;
  const Layout<3> L = layout_of<3>({&out, &c.in[0], &c.in[1]});
  on_device("gelu_backward", out, [&](cudaStream_t s) {
    return launch_binary(approx ? Binary::gelu_tanh_backward : Binary::gelu_backward, code(out.dtype()), L, s);
  });
}

// Reduced dims are those where out (keepdim shape) has size 1 and the input does not.
template <Reduce R>
void reduce_kernel(const KernelCall& c) {
  const Tensor& a = c.in[0];
  Tensor& out = c.out[0];
  if (out.numel() == 0) return;
  Tensor kept = a, reduced = a;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (out.shape()[d] == 1 && a.shape()[d] != 1) kept = kept.narrow(d, 0, 1);
    else reduced = reduced.narrow(d, 0, 1);
  }
  const Layout<2> outer = layout_of<2>({&out, &kept});
  const Layout<1> inner = layout_of<1>({&reduced});
  Tensor scratch;
  if (outer.numel == 1)
    scratch = empty({static_cast<int64_t>(reduce_scratch_bytes())}, TensorOptions(DType::UInt8, out.device()));
  on_device("reduce", out, [&](cudaStream_t s) {
    return launch_reduce(R, code(a.dtype()), outer, inner, scratch.defined() ? scratch.data_ptr() : nullptr, s);
  });
}

const bool registered = [] {
  auto& r = Registry::get();
  const DeviceType cu = DeviceType::CUDA;
  const DType reals[] = {DType::Bool,    DType::UInt8,    DType::Int8,    DType::Int16,  DType::Int32,
                         DType::Int64,   DType::Float16,  DType::BFloat16, DType::Float32, DType::Float64};
  const DType floats[] = {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64};
  const DType numbers[] = {DType::Int32, DType::Int64, DType::Float16, DType::BFloat16, DType::Float32, DType::Float64};
  for (DType t : reals) {
    r.add(op::copy, cu, t, &copy_kernel);
    r.add(op::fill, cu, t, &fill_kernel);
    r.add(op::where, cu, t, &where_kernel);
    r.add(op::logical_and, cu, t, &compare_kernel<Compare::logical_and>);
    r.add(op::logical_or, cu, t, &compare_kernel<Compare::logical_or>);
    r.add(op::logical_xor, cu, t, &compare_kernel<Compare::logical_xor>);
    r.add(op::logical_not, cu, t, &predicate_kernel<Compare::logical_not>);
  }
  for (DType t : {DType::Complex64, DType::Complex128, DType::UInt16, DType::UInt32, DType::UInt64}) {
    r.add(op::copy, cu, t, &copy_kernel);
    r.add(op::fill, cu, t, &fill_kernel);
  }
  for (DType t : numbers) {
    r.add(op::add, cu, t, &binary_kernel<Binary::add>);
    r.add(op::sub, cu, t, &binary_kernel<Binary::sub>);
    r.add(op::mul, cu, t, &binary_kernel<Binary::mul>);
    r.add(op::maximum, cu, t, &binary_kernel<Binary::maximum>);
    r.add(op::minimum, cu, t, &binary_kernel<Binary::minimum>);
    r.add(op::remainder, cu, t, &binary_kernel<Binary::remainder>);
    r.add(op::floor_divide, cu, t, &binary_kernel<Binary::floor_divide>);
    r.add(op::fmod, cu, t, &binary_kernel<Binary::fmod>);
    r.add(op::neg, cu, t, &unary_kernel<Unary::neg>);
    r.add(op::relu, cu, t, &unary_kernel<Unary::relu>);
    r.add(op::square, cu, t, &unary_kernel<Unary::square>);
    r.add(op::abs, cu, t, &unary_kernel<Unary::abs>);
    r.add(op::sign, cu, t, &unary_kernel<Unary::sign>);
    r.add(op::clamp, cu, t, &clamp_kernel);
    r.add(op::sum, cu, t, &reduce_kernel<Reduce::sum>);
    r.add(op::amax, cu, t, &reduce_kernel<Reduce::amax>);
    r.add(op::amin, cu, t, &reduce_kernel<Reduce::amin>);
    r.add(op::prod, cu, t, &reduce_kernel<Reduce::prod>);
    r.add(op::eq, cu, t, &compare_kernel<Compare::eq>);
    r.add(op::ne, cu, t, &compare_kernel<Compare::ne>);
    r.add(op::lt, cu, t, &compare_kernel<Compare::lt>);
    r.add(op::le, cu, t, &compare_kernel<Compare::le>);
    r.add(op::gt, cu, t, &compare_kernel<Compare::gt>);
    r.add(op::ge, cu, t, &compare_kernel<Compare::ge>);
  }
  r.add(op::sum, cu, DType::Bool, &reduce_kernel<Reduce::sum>);  // counts, into int64
  for (DType t : {DType::Bool, DType::UInt8, DType::Int8, DType::Int16, DType::Int32, DType::Int64}) {
    r.add(op::bitwise_and, cu, t, &binary_kernel<Binary::bit_and>);
    r.add(op::bitwise_or, cu, t, &binary_kernel<Binary::bit_or>);
    r.add(op::bitwise_xor, cu, t, &binary_kernel<Binary::bit_xor>);
    r.add(op::bitwise_not, cu, t, &unary_kernel<Unary::bit_not>);
    if (t == DType::Bool) continue;
    r.add(op::bitwise_left_shift, cu, t, &binary_kernel<Binary::shl>);
    r.add(op::bitwise_right_shift, cu, t, &binary_kernel<Binary::shr>);
  }
  for (DType t : {DType::Float32, DType::Float64})  // as the CPU's; 16-bit floats take the composite rule
    r.add(r.op_id("gelu_backward_fused"), cu, t, &gelu_backward_kernel);
  for (DType t : floats) {
    r.add(op::div, cu, t, &binary_kernel<Binary::div>);
    r.add(op::pow, cu, t, &binary_kernel<Binary::pow>);
    r.add(op::atan2, cu, t, &binary_kernel<Binary::atan2>);
    r.add(r.op_id("hypot"), cu, t, &binary_kernel<Binary::hypot>);  // by name, as the CPU registers them
    r.add(r.op_id("copysign"), cu, t, &binary_kernel<Binary::copysign>);
    r.add(op::exp, cu, t, &unary_kernel<Unary::exp>);
    r.add(op::log, cu, t, &unary_kernel<Unary::log>);
    r.add(op::tanh, cu, t, &unary_kernel<Unary::tanh>);
    r.add(op::sigmoid, cu, t, &unary_kernel<Unary::sigmoid>);
    r.add(op::reciprocal, cu, t, &unary_kernel<Unary::reciprocal>);
    r.add(op::sqrt, cu, t, &unary_kernel<Unary::sqrt>);
    r.add(op::rsqrt, cu, t, &unary_kernel<Unary::rsqrt>);
    r.add(op::erf, cu, t, &unary_kernel<Unary::erf>);
    r.add(op::erfinv, cu, t, &unary_kernel<Unary::erfinv>);
    r.add(op::leaky_relu, cu, t, &unary_kernel<Unary::leaky_relu>);
    r.add(op::elu, cu, t, &unary_kernel<Unary::elu>);
    r.add(op::softplus, cu, t, &unary_kernel<Unary::softplus>);
    r.add(op::hardsigmoid, cu, t, &unary_kernel<Unary::hardsigmoid>);
    r.add(op::hardswish, cu, t, &unary_kernel<Unary::hardswish>);
    r.add(op::round, cu, t, &unary_kernel<Unary::round>);
    r.add(op::nan_to_num, cu, t, &unary_kernel<Unary::nan_to_num>);
    r.add(op::sin, cu, t, &unary_kernel<Unary::sin>);
    r.add(op::cos, cu, t, &unary_kernel<Unary::cos>);
    r.add(op::tan, cu, t, &unary_kernel<Unary::tan>);
    r.add(op::asin, cu, t, &unary_kernel<Unary::asin>);
    r.add(op::acos, cu, t, &unary_kernel<Unary::acos>);
    r.add(op::atan, cu, t, &unary_kernel<Unary::atan>);
    r.add(op::sinh, cu, t, &unary_kernel<Unary::sinh>);
    r.add(op::cosh, cu, t, &unary_kernel<Unary::cosh>);
    r.add(op::asinh, cu, t, &unary_kernel<Unary::asinh>);
    r.add(op::acosh, cu, t, &unary_kernel<Unary::acosh>);
    r.add(op::atanh, cu, t, &unary_kernel<Unary::atanh>);
    r.add(op::log2, cu, t, &unary_kernel<Unary::log2>);
    r.add(op::log10, cu, t, &unary_kernel<Unary::log10>);
    r.add(op::log1p, cu, t, &unary_kernel<Unary::log1p>);
    r.add(op::expm1, cu, t, &unary_kernel<Unary::expm1>);
    r.add(op::exp2, cu, t, &unary_kernel<Unary::exp2>);
    r.add(op::erfc, cu, t, &unary_kernel<Unary::erfc>);
    r.add(op::floor, cu, t, &unary_kernel<Unary::floor>);
    r.add(op::ceil, cu, t, &unary_kernel<Unary::ceil>);
    r.add(op::trunc, cu, t, &unary_kernel<Unary::trunc>);
    r.add(op::silu, cu, t, &unary_kernel<Unary::silu>);
    r.add(op::gelu, cu, t, &gelu_kernel);
    r.add(op::lerp, cu, t, &lerp_kernel);  // running statistics (batch_norm)
    r.add(op::relu_backward, cu, t, &binary_kernel<Binary::relu_backward>);
    r.add(op::isnan, cu, t, &predicate_kernel<Compare::isnan>);
    r.add(op::isinf, cu, t, &predicate_kernel<Compare::isinf>);
    r.add(op::isfinite, cu, t, &predicate_kernel<Compare::isfinite>);
  }
  return true;
}();

}  // namespace
}  // namespace tessel::cuda
