#pragma once
// The cast-only dtypes: float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0fnu),
// float4_e2m1fn and the sub-byte integers int4/uint4/int2/uint2. Tensors of
// these dtypes are stored, copied, viewed and cast (as in PyTorch, where float8
// tensors have no arithmetic either); every other op refuses them by name.
// One byte per element, laid out as ml_dtypes does (sub-byte values in the low
// bits, the high bits zero), so NumPy arrays of those types are shared as is;
// ONNX files pack them, and the loader and exporter unpack and pack.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace tessel {

// Which codes of a small float format are special.
enum class F8Kind : uint8_t {
  IEEE,  // all-ones exponent: inf (mantissa 0) or NaN (e5m2)
  FN,    // finite: only all-ones exponent and mantissa is NaN (e4m3fn)
  FNUZ,  // finite, unsigned zero: 0x80 is the one NaN (e4m3fnuz, e5m2fnuz)
  None,  // finite and no NaN (float4_e2m1fn)
};

// A float with E exponent bits, M mantissa bits and the given bias, sign bit
// above them. Conversions round to nearest even; `saturate` sends what is too
// large (infinities included) to the largest finite value, otherwise it becomes
// inf (IEEE), NaN (FN, FNUZ) or the largest value (None: there is nothing else).
template <int E, int M, int Bias, F8Kind K>
struct SmallFloat {
  static constexpr int kBits = 1 + E + M;
  static constexpr uint8_t kSign = uint8_t(1u << (E + M));
  static constexpr int kMaxExpField = (1 << E) - 1;
  // Largest finite value's fields.
  static constexpr int kTopExp = K == F8Kind::IEEE ? kMaxExpField - 1 : kMaxExpField;
  static constexpr int kTopMan = K == F8Kind::FN ? (1 << M) - 2 : (1 << M) - 1;

  uint8_t bits = 0;
  SmallFloat() = default;
  explicit SmallFloat(double v, bool saturate = false) : bits(encode(v, saturate)) {}
  operator float() const { return table()[bits]; }  // NOLINT: exact, like a builtin float type
  static constexpr SmallFloat from_bits(uint8_t b) {
    SmallFloat f;
    f.bits = b;
    return f;
  }

  static float max() { return decode_slow(uint8_t((kTopExp << M) | kTopMan)); }

  static uint8_t nan_code(bool negative) {
    if constexpr (K == F8Kind::FNUZ) return 0x80;
    else if constexpr (K == F8Kind::FN) return uint8_t((negative ? kSign : 0) | (kSign - 1));
    else if constexpr (K == F8Kind::IEEE) return uint8_t((negative ? kSign : 0) | (kMaxExpField << M) | (1 << (M - 1)));
    else return 0;  // None: NaN has no code; it becomes +0 (what ml_dtypes gives for a NaN with the sign set)
  }

  static uint8_t encode(double x, bool saturate) {
    const bool neg = std::signbit(x);
    const uint8_t sign = neg ? kSign : 0;
    if (std::isnan(x)) {
      if constexpr (K == F8Kind::None) return neg ? 0 : kSign;  // ml_dtypes' choice, matched bit for bit
      else return nan_code(neg);
    }
    const double a = std::fabs(x);
    const uint8_t top = uint8_t(sign | (kTopExp << M) | kTopMan);
    auto overflow = [&]() -> uint8_t {
      if (saturate || K == F8Kind::None) return top;
      if constexpr (K == F8Kind::IEEE) return uint8_t(sign | (kMaxExpField << M));
      else return nan_code(neg);
    };
    if (std::isinf(a)) return overflow();
    // The quantum at a's binade (or the subnormal one), then round to nearest even.
    constexpr int kEmin = 1 - Bias;
    int e = 0;
    std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1): the binade's exponent is e - 1
    const int q = (e - 1 > kEmin ? e - 1 : kEmin) - M;
    const double n = std::nearbyint(std::ldexp(a, -q));
    if (n == 0) return K == F8Kind::FNUZ ? uint8_t(0) : sign;  // FNUZ has no -0
    const double v = std::ldexp(n, q);
    if (v > static_cast<double>(max())) return overflow();
    int ve = 0;
    std::frexp(v, &ve);
    if (ve - 1 < kEmin) return uint8_t(sign | static_cast<uint8_t>(n));  // subnormal: the mantissa is n
    const int man = static_cast<int>(std::ldexp(v, M - (ve - 1))) - (1 << M);
    return uint8_t(sign | ((ve - 1 + Bias) << M) | man);
  }

  static float decode_slow(uint8_t b) {
    const bool neg = b & kSign;
    const int ex = (b >> M) & kMaxExpField, man = b & ((1 << M) - 1);
    if (K == F8Kind::FNUZ && b == 0x80) return NAN;
    if (K == F8Kind::FN && ex == kMaxExpField && man == (1 << M) - 1) return neg ? -NAN : NAN;
    if (K == F8Kind::IEEE && ex == kMaxExpField) return man ? (neg ? -NAN : NAN) : (neg ? -INFINITY : INFINITY);
    const double mag = ex == 0 ? std::ldexp(man, 1 - Bias - M) : std::ldexp((1 << M) + man, ex - Bias - M);
    return static_cast<float>(neg ? -mag : mag);
  }

  static const std::array<float, 256>& table() {
    static const std::array<float, 256> t = [] {
      std::array<float, 256> r{};
      for (int i = 0; i < 256; ++i) r[i] = i < (1 << kBits) ? decode_slow(uint8_t(i)) : NAN;
      return r;
    }();
    return t;
  }
};

using Float8E4M3FN = SmallFloat<4, 3, 7, F8Kind::FN>;
using Float8E4M3FNUZ = SmallFloat<4, 3, 8, F8Kind::FNUZ>;
using Float8E5M2 = SmallFloat<5, 2, 15, F8Kind::IEEE>;
using Float8E5M2FNUZ = SmallFloat<5, 2, 16, F8Kind::FNUZ>;
using Float4E2M1FN = SmallFloat<2, 1, 1, F8Kind::None>;

// float8_e8m0fnu: a power of two 2^(b - 127), 0xFF is NaN; no sign, no zero
// (the MX formats' scale). The conversion of PyTorch and ONNX: the float32
// exponent, rounded by the mantissa to nearest (tessel's cast, as PyTorch's),
// up (ONNX Cast's default) or down; NaN and inf give NaN; `saturate` keeps
// 2^127 from rounding up into NaN. The sign is ignored.
struct Float8E8M0FNU {
  enum class Round : uint8_t { Up, Down, Nearest };
  uint8_t bits = 0;
  Float8E8M0FNU() = default;
  explicit Float8E8M0FNU(double v, bool saturate = false, Round r = Round::Nearest) : bits(encode(v, saturate, r)) {}
  operator float() const { return bits == 0xFF ? NAN : std::ldexp(1.0f, int(bits) - 127); }  // NOLINT
  static constexpr Float8E8M0FNU from_bits(uint8_t b) {
    Float8E8M0FNU f;
    f.bits = b;
    return f;
  }
  static uint8_t encode(double v, bool saturate, Round r) {
    const float f = static_cast<float>(v);
    uint32_t x = 0;
    std::memcpy(&x, &f, 4);
    uint32_t ex = (x >> 23) & 0xFF;
    if (ex == 0xFF) return 0xFF;
    const uint32_t frac = x & 0x7FFFFF;
    bool up = false;
    if (r == Round::Up) {
      up = frac != 0;
    } else if (r == Round::Nearest) {  // guard bit, then round/sticky or an odd (nonzero) exponent
      const bool g = x & 0x400000, rest = x & 0x3FFFFF;
      up = g && (rest || ex > 0);
    }
    if (up && saturate && ex == 0xFE) up = false;
    ex += up;
    return static_cast<uint8_t>(ex);
  }
};

// Sub-byte integers: the value in the low N bits (two's complement for the
// signed ones), the high bits zero. From integers they wrap; from floats they
// truncate toward zero first (NaN gives 0), as ml_dtypes and ONNX's Cast do.
template <int N, bool Signed>
struct SmallInt {
  static constexpr uint8_t kMask = uint8_t((1u << N) - 1);
  static constexpr int kMin = Signed ? -(1 << (N - 1)) : 0;
  static constexpr int kMax = Signed ? (1 << (N - 1)) - 1 : (1 << N) - 1;
  uint8_t bits = 0;
  SmallInt() = default;
  explicit SmallInt(int64_t v) : bits(static_cast<uint8_t>(static_cast<uint64_t>(v) & kMask)) {}
  operator int() const {  // NOLINT
    const int u = bits & kMask;
    return Signed && u > kMax ? u - (1 << N) : u;
  }
  static constexpr SmallInt from_bits(uint8_t b) {
    SmallInt i;
    i.bits = b;
    return i;
  }
};

using Int4 = SmallInt<4, true>;
using UInt4 = SmallInt<4, false>;
using Int2 = SmallInt<2, true>;
using UInt2 = SmallInt<2, false>;

template <class T>
inline constexpr bool is_small_float_v = false;
template <int E, int M, int B, F8Kind K>
inline constexpr bool is_small_float_v<SmallFloat<E, M, B, K>> = true;
template <>
inline constexpr bool is_small_float_v<Float8E8M0FNU> = true;
template <class T>
inline constexpr bool is_small_int_v = false;
template <int N, bool S>
inline constexpr bool is_small_int_v<SmallInt<N, S>> = true;
// A C++ type of a cast-only dtype.
template <class T>
inline constexpr bool is_cast_only_v = is_small_float_v<T> || is_small_int_v<T>;

}  // namespace tessel
