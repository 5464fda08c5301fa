// result_type and broadcasting: the "promote" and "broadcast" steps every op shares.
#include <algorithm>

#include "tessel/ops.h"

namespace tessel {

namespace {
// PyTorch's three priority classes: tensors with dims, 0-d tensors, and
// Python scalars. A lower class only matters if it is of a higher category.
struct ResultState {
  std::optional<DType> dim, zero, wrapped;
};

void update(std::optional<DType>& slot, DType d) { slot = slot ? promote_types(*slot, d) : d; }

// Combines a higher-priority result with a lower-priority one.
std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  const DType h = *higher, l = *lower;
  if (is_complex(h)) return h;
  if (is_complex(l)) return is_floating(h) ? to_complex(h) : l;
  if (is_floating(h)) return h;
  if (h == DType::Bool || is_floating(l)) return promote_types(h, l);
  return h;
}
}  // namespace

DType result_type(std::initializer_list<Operand> operands) {
  ResultState s;
  for (const Operand& o : operands) {
    if (const Tensor* const* t = std::get_if<const Tensor*>(&o)) {
      update((*t)->dim() > 0 ? s.dim : s.zero, (*t)->dtype());
    } else {
      const Scalar& sc = std::get<Scalar>(o);
      // A wrapped number's dtype within its category is the default one.
      update(s.wrapped, sc.dtype());
    }
  }
  const auto r = combine(s.dim, combine(s.zero, s.wrapped));
  return r ? *r : default_float_dtype();
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) {
      fail<ValueError>(op, "shapes ", a, " and ", b, " cannot be broadcast together (size ", x, " vs ", y,
                       " at dim ", i, ")");
    }
    out[i] = x == 1 ? y : x;
  }
  return out;
}

Tensor broadcast_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  return t.expand(shape);
}

}  // namespace tessel
