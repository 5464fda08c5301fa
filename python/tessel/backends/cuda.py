"""ts.backends.cuda: whether this build has the CUDA backend, and the matmul flags (see ts.cuda)."""
from .. import _C
from ._flags import c_flag


class _MatmulFlags:
    """ts.backends.cuda.matmul.allow_tf32: float32 matmuls on TF32 tensor cores (off by default,
    as in PyTorch). The reduced-precision-reduction flags are accepted: float16/bfloat16 products
    always accumulate in float32 here."""

    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True

    allow_tf32 = c_flag(_C._cuda.matmul_allow_tf32, _C._cuda.set_matmul_allow_tf32)


matmul = _MatmulFlags()


def is_built():
    """Whether this tessel build has the CUDA backend (TESSEL_WITH_CUDA); a device may still be missing:
    ts.cuda.is_available() says."""
    return _C._cuda.is_compiled()
