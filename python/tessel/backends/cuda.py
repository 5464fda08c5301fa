"""ts.backends.cuda: whether this build has the CUDA backend, and the matmul flags (see ts.cuda)."""
from .. import _C


class _MatmulFlags:
    """ts.backends.cuda.matmul.allow_tf32 and friends: accepted; not yet read by the CUDA matmul, which
    computes float32 in full float32 (PyTorch's default, allow_tf32 = False)."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built():
    """Whether this tessel build has the CUDA backend (TESSEL_WITH_CUDA); a device may still be missing:
    ts.cuda.is_available() says."""
    return _C._cuda.is_compiled()
