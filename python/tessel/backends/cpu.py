"""ts.backends.cpu: the SIMD level of tessel's vectorized CPU math (exp, tanh, erf,
sigmoid, gelu, ... through SLEEF), chosen once at start-up from the CPU.

    ts.backends.cpu.get_cpu_capability()   # "AVX512", "AVX2" or "DEFAULT" (scalar loops)

The environment variable TESSEL_VECMATH=avx2 or =scalar, set before tessel is
imported, picks a narrower level (for comparisons and tests).
"""
from .. import _C

_NAMES = {"avx512": "AVX512", "avx2": "AVX2", "scalar": "DEFAULT"}


def get_cpu_capability():
    """The instruction set the vectorized math kernels use, named as torch.backends.cpu does."""
    return _NAMES[_C._cpu_capability()]
