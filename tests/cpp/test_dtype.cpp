#include <gtest/gtest.h>
#include <tessel/tessel.h>

#include <cmath>
#include <limits>

using namespace tessel;

TEST(Half, RoundTripsEveryHalfValue) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const Half h = Half::from_bits(static_cast<uint16_t>(b));
    const float f = h;
    if (std::isnan(f)) continue;
    EXPECT_EQ(Half(f).bits, b) << "bits " << b;
  }
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to even (1).
  EXPECT_EQ(Half(1.0f + std::ldexp(1.0f, -11)).bits, Half(1.0f).bits);
  // 1 + 3 * 2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties go to the even mantissa.
  EXPECT_EQ(static_cast<float>(Half(1.0f + 3 * std::ldexp(1.0f, -11))), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isinf(static_cast<float>(Half(65520.0f))));
  EXPECT_EQ(static_cast<float>(Half(65519.0f)), 65504.0f);
  EXPECT_EQ(static_cast<float>(Half(std::ldexp(1.0f, -24))), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(static_cast<float>(Half(std::ldexp(1.0f, -26))), 0.0f);
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f + std::ldexp(1.0f, -8))), 1.0f);  // tie -> even
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f + 3 * std::ldexp(1.0f, -8))), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(NAN))));
}

TEST(Cast, FloatToIntTruncatesAndSaturates) {
  EXPECT_EQ(cast_value<int32_t>(-2.7), -2);
  EXPECT_EQ(cast_value<int32_t>(2.7f), 2);
  EXPECT_EQ(cast_value<int8_t>(300.0), 127);
  EXPECT_EQ(cast_value<int8_t>(-300.0), -128);
  EXPECT_EQ(cast_value<uint8_t>(-1.5), 0);
  EXPECT_EQ(cast_value<int64_t>(NAN), 0);
  EXPECT_EQ(cast_value<int64_t>(INFINITY), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(cast_value<int32_t>(-INFINITY), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(cast_value<uint8_t>(int64_t{257}), 1);  // int -> int wraps
  EXPECT_TRUE(cast_value<bool>(complex64(0, 1)));
}

TEST(Promotion, MatchesPyTorchLattice) {
  EXPECT_EQ(promote_types(DType::UInt8, DType::Int8), DType::Int16);
  EXPECT_EQ(promote_types(DType::Float16, DType::BFloat16), DType::Float32);
  EXPECT_EQ(promote_types(DType::Int64, DType::Float16), DType::Float16);
  EXPECT_EQ(promote_types(DType::Complex64, DType::Float64), DType::Complex128);
  EXPECT_EQ(promote_types(DType::Bool, DType::Int8), DType::Int8);
  Tensor i8 = zeros({2}, DType::Int8), f16 = zeros({2}, DType::Float16), f64s = zeros({}, DType::Float64);
  EXPECT_EQ(result_type({&i8, Scalar(1.5)}), DType::Float32);
  EXPECT_EQ(result_type({&f16, Scalar(2.0)}), DType::Float16);
  EXPECT_EQ(result_type({&i8, Scalar(int64_t{1000})}), DType::Int8);
  EXPECT_EQ(result_type({&i8, &f64s}), DType::Float64);  // a 0-d tensor of a higher category counts fully
  Tensor f32 = zeros({2});
  EXPECT_EQ(result_type({&f32, &f64s}), DType::Float32);  // ... but not within its category
}

// The cast-only dtypes from C++: every finite code round-trips, and they only store and cast.
template <class F>
void expect_round_trip(const char* name) {
  for (int b = 0; b < 256; ++b) {
    const float f = F::from_bits(static_cast<uint8_t>(b));
    if (std::isnan(f) || b >= (1 << F::kBits)) continue;
    EXPECT_EQ(F(static_cast<double>(f)).bits, b) << name << " code " << b;
  }
}

TEST(CastOnly, EveryCodeRoundTrips) {
  expect_round_trip<Float8E4M3FN>("e4m3fn");
  expect_round_trip<Float8E4M3FNUZ>("e4m3fnuz");
  expect_round_trip<Float8E5M2>("e5m2");
  expect_round_trip<Float8E5M2FNUZ>("e5m2fnuz");
  expect_round_trip<Float4E2M1FN>("e2m1");
  EXPECT_EQ(Float8E4M3FN::max(), 448.0f);
  EXPECT_EQ(Float8E4M3FNUZ::max(), 240.0f);
  EXPECT_EQ(Float8E5M2::max(), 57344.0f);
  EXPECT_EQ(Float4E2M1FN::max(), 6.0f);
  EXPECT_EQ(static_cast<int>(Int4(int64_t{-9})), 7);  // wraps
  EXPECT_EQ(static_cast<int>(cast_value<UInt2>(2.9f)), 2);
}

TEST(CastOnly, DTypeFactsAndRefusals) {
  for (DType d : {DType::Float8E4M3FN, DType::Int4, DType::UInt2, DType::Float8E8M0FNU}) {
    EXPECT_TRUE(is_cast_only(d));
    EXPECT_FALSE(is_integral(d));
    EXPECT_FALSE(is_floating(d));
    EXPECT_FALSE(is_unsigned(d));
    EXPECT_EQ(itemsize(d), 1u);
  }
  EXPECT_TRUE(is_unsigned(DType::UInt64));
  EXPECT_FALSE(is_cast_only(DType::UInt64));
  const Tensor x = from_vector<float>({1.5f, -3.0f, 500.0f}, {3}).to(DType::Float8E5M2);
  EXPECT_EQ(x.select(0, 0).to(DType::Float32).item<float>(), 1.5f);
  EXPECT_EQ(x.select(0, 2).to(DType::Float32).item<float>(), 512.0f);
  EXPECT_THROW(add(x, x), TypeError);
  EXPECT_THROW(promote_types(DType::Int4, DType::Int8), TypeError);
}
