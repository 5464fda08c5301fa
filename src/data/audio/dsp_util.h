#pragma once
// Small numeric helpers shared by the audio features and the resampler.
namespace tessel::audio::detail {

// Modified Bessel function of the first kind, order 0 (power series; converges for all x).
inline double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  const double q = x * x / 4.0;
  for (int k = 1; k < 500; ++k) {
    term *= q / (double(k) * double(k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

}  // namespace tessel::audio::detail
