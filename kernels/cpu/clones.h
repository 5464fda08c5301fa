#pragma once
// Hot loops built for AVX2 too, picked at load time on CPUs that have it (the
// library's baseline is x86-64 with SSE2). GCC's target_clones; feature names,
// not arch=..., since arch clones are never picked on AMD CPUs. Clang 14 cannot
// clone templates, so Clang builds (the fuzzers) take the baseline only.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TESSEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TESSEL_CLONES
#endif
