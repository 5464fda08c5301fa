// copy_, to(device), item and printing: moving values between tensors and devices.
#include <ostream>
#include <sstream>

#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel {

namespace {
// Whether the byte ranges two views can touch overlap (conservative).
bool may_overlap(const Tensor& a, const Tensor& b) {
  if (a.storage() != b.storage() || a.numel() == 0 || b.numel() == 0) return false;
  auto range = [](const Tensor& t, int64_t& lo, int64_t& hi) {
    lo = hi = t.offset();
    for (int64_t d = 0; d < t.dim(); ++d) {
      const int64_t span = (t.shape()[d] - 1) * t.strides()[d];
      (span < 0 ? lo : hi) += span;
    }
  };
  int64_t alo, ahi, blo, bhi;
  range(a, alo, ahi);
  range(b, blo, bhi);
  return alo <= bhi && blo <= ahi;
}

// Host copy of a tensor's elements, contiguous.
Tensor to_host(const Tensor& src) {
  if (src.device().is_cpu()) return src;
  const Tensor s = src.contiguous();
  Tensor h = empty(s.shape(), TensorOptions(s.dtype()));
  device_hooks(s.device().type).copy_to_host(h.data_ptr(), s.data_ptr(), s.nbytes(), s.device().index);
  return h;
}
}  // namespace

Tensor& Tensor::copy_(const Tensor& src_in) {
  if (trace::Op t{"copy_"}) {  // x[...] = v writes through copy_: the exporter needs it
    t.in(*this).in(src_in).inplace();
    copy_(src_in);
    t.out(*this);
    return *this;
  }
  const Shape bs = broadcast_shapes("copy_", shape(), src_in.shape());
  TS_CHECK(bs == shape(), ValueError, "copy_", "source shape ", src_in.shape(), " cannot be broadcast to ", shape());
  if (autograd::needs_grad(*this, src_in)) {
    autograd::inplace("copy_", *this, false, [&](const Tensor& self) {
      return src_in.to(self.device()).to(self.dtype()).expand(self.shape());
    });
    return *this;
  }
  if (numel() == 0) return *this;
  check_writable("copy_", *this);
  Tensor self = *this;
  if (src_in.device() == device()) {
    // Overlapping views (t[1:] = t[:-1]) read from a snapshot so no element is lost.
    const Tensor src = may_overlap(self, src_in) ? src_in.clone() : src_in;
    const Tensor srcb = broadcast_to(src, shape());
    dispatch(op::copy, src.dtype(), {&srcb, 1}, {&self, 1});
  } else if (device().is_cpu()) {
    copy_(to_host(src_in));
  } else {
    // Host staging: cast and broadcast on the CPU, then one contiguous upload.
    Tensor host = empty(shape(), TensorOptions(dtype()));
    host.copy_(to_host(src_in));
    Tensor dst = is_contiguous() ? self : empty(shape(), TensorOptions(dtype(), device()));
    device_hooks(device().type).copy_from_host(dst.data_ptr(), host.data_ptr(), host.nbytes(), device().index);
    if (!dst.is_same(self)) self.copy_(dst);
  }
  bump_version();
  return *this;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  return autograd::recorded(
      autograd::needs_grad(*this),
      [&] {
        Tensor out = empty(shape(), TensorOptions(dtype(), d));
        out.copy_(*this);
        return out;
      },
      [&](const Tensor& out) { autograd::rules::copy("ToCopyBackward", *this, out); });
}

Scalar Tensor::item() const {
  TS_CHECK(numel() == 1, ValueError, "item", "a Tensor with ", numel(), " elements cannot be converted to a Scalar");
  const Tensor h = to_host(*this);
  return visit_any_dtype(dtype(), [&]<class T>(std::type_identity<T>) { return Scalar(*static_cast<T*>(h.data_ptr())); });
}

namespace {
void print_rec(std::ostream& os, const Tensor& t, int64_t depth) {
  if (t.dim() == 0) {
    const Scalar s = t.item();
    if (s.is_complex()) {
      const auto c = s.to<complex128>();
      os << c.real() << (c.imag() < 0 ? "" : "+") << c.imag() << "j";
    } else if (s.is_bool()) {
      os << (s.to<bool>() ? "True" : "False");
    } else if (s.is_int()) {
      os << s.to<int64_t>();
    } else {
      // Floats always show as floats ("2." rather than "2"), as in Python's repr.
      std::ostringstream f;
      f << s.to<double>();
      const std::string txt = f.str();
      os << txt << (txt.find_first_of(".eni") == std::string::npos ? "." : "");
    }
    return;
  }
  os << "[";
  for (int64_t i = 0; i < t.shape()[0]; ++i) {
    if (i) os << (t.dim() > 1 ? ",\n" + std::string(static_cast<size_t>(depth + 8), ' ') : ", ");
    print_rec(os, t.select(0, i), depth + 1);
  }
  os << "]";
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(";
  print_rec(os, to_host(t), 0);
  os << ", dtype=" << t.dtype();
  if (!t.device().is_cpu()) os << ", device='" << t.device() << "'";
  return os << ")";
}

}  // namespace tessel
