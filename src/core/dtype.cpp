#include "tessel/dtype.h"

#include <ostream>
#include <string_view>

#include "tessel/error.h"

namespace tessel {

namespace {
constexpr const char* kNames[kNumDTypes] = {"bool",     "uint8",    "int8",    "int16",     "int32",     "int64",
                                            "float16",  "bfloat16", "float32", "float64",   "complex64", "complex128",
                                            "uint16",   "uint32",   "uint64",
                                            // ml_dtypes' names, so that NumPy arrays of its types map by name
                                            "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
                                            "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2", "uint2"};
constexpr size_t kSizes[kNumDTypes] = {1, 1, 1, 2, 4, 8, 2, 2, 4, 8, 8, 16, 2, 4, 8,
                                       1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
DType g_default_float = DType::Float32;
}  // namespace

const char* dtype_name(DType d) { return kNames[static_cast<int>(d)]; }
size_t itemsize(DType d) { return kSizes[static_cast<int>(d)]; }
bool is_floating(DType d) { return d >= DType::Float16 && d <= DType::Float64; }
bool is_complex(DType d) { return d == DType::Complex64 || d == DType::Complex128; }
bool is_integral(DType d, bool include_bool) {
  return (d >= DType::UInt8 && d <= DType::Int64) || (d >= DType::UInt16 && d <= DType::UInt64) ||
         (include_bool && d == DType::Bool);
}
bool is_unsigned(DType d) { return d == DType::UInt8 || (d >= DType::UInt16 && d <= DType::UInt64); }
bool is_signed(DType d) {
  if (is_cast_only(d)) return d != DType::Float8E8M0FNU && d != DType::UInt4 && d != DType::UInt2;
  return d != DType::Bool && !is_unsigned(d);
}

void fail_cast_only(const char* op, DType d) {
  fail<TypeError>(op, "dtype ", d, " only stores and casts: it has no arithmetic or other kernels; cast it first, "
                  "e.g. .to(float32)");
}

DType to_complex(DType d) {
  if (is_complex(d)) return d;
  return d == DType::Float64 ? DType::Complex128 : DType::Complex64;
}
DType to_real(DType d) {
  if (d == DType::Complex64) return DType::Float32;
  if (d == DType::Complex128) return DType::Float64;
  return d;
}

DType dtype_from_name(const char* op, const char* name) {
  const std::string_view n(name);
  for (int i = 0; i < kNumDTypes; ++i)
    if (n == kNames[i]) return static_cast<DType>(i);
  fail<TypeError>(op, "unknown dtype '", name, "'");
}

namespace {
int category(DType d) {  // bool < integer < floating < complex
  if (d == DType::Bool) return 0;
  if (is_integral(d)) return 1;
  if (is_floating(d)) return 2;
  return 3;
}
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (is_cast_only(a) || is_cast_only(b)) fail_cast_only("promote_types", is_cast_only(a) ? a : b);
  const int ca = category(a), cb = category(b);
  if (ca == 3 || cb == 3) {
    // Complex: the real parts promote, then go back to complex.
    return to_complex(promote_types(to_real(a), to_real(b)));
  }
  if (ca != cb) return ca > cb ? a : b;
  if (ca == 2) {
    // float16 and bfloat16 share no format; both fit in float32.
    if (itemsize(a) == itemsize(b)) return DType::Float32;
    return itemsize(a) > itemsize(b) ? a : b;
  }
  // Integers of one signedness: the wider. An unsigned type with a signed one
  // needs one more bit: the signed type twice its width, or the wider signed
  // type; uint64 with a signed type has none and goes to float64 (NumPy's rule;
  // PyTorch refuses to promote uint16/32/64 at all).
  if (is_unsigned(a) == is_unsigned(b)) return itemsize(a) > itemsize(b) ? a : b;
  const DType u = is_unsigned(a) ? a : b, s = is_unsigned(a) ? b : a;
  if (itemsize(s) > itemsize(u)) return s;
  switch (itemsize(u)) {
    case 1: return DType::Int16;
    case 2: return DType::Int32;
    case 4: return DType::Int64;
    default: return DType::Float64;
  }
}

bool can_cast(DType from, DType to) {
  // Same rule as PyTorch's in-place ops: no step down in category.
  if (is_cast_only(from) || is_cast_only(to)) return from == to;
  return category(from) <= category(to);
}

DType default_float_dtype() { return g_default_float; }
void set_default_float_dtype(DType d) {
  TS_CHECK(d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16, TypeError,
           "set_default_dtype", "only floating dtypes can be the default, got ", d);
  g_default_float = d;
}

std::ostream& operator<<(std::ostream& os, DType d) { return os << dtype_name(d); }

}  // namespace tessel
