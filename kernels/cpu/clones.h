#pragma once
// Hot loops built for AVX2 too, picked at load time on CPUs that have it (the
// library's baseline is x86-64 with SSE2). GCC's target_clones; feature names,
// not arch=..., since arch clones are never picked on AMD CPUs. Clang 14 cannot
// clone templates, so Clang builds (the fuzzers) take the baseline only.
// TESSEL_CLONES_WIDE adds an AVX-512 clone, for loops whose speed measurably
// follows the vector width (each clone costs compile time and code size).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TESSEL_CLONES __attribute__((target_clones("avx2", "default")))
#define TESSEL_CLONES_WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TESSEL_CLONES
#define TESSEL_CLONES_WIDE
#endif
