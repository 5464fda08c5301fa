"""ts.backends.cuda: CUDA is not part of this build (see ts.cuda)."""


class _MatmulFlags:
    """ts.backends.cuda.matmul.allow_tf32 and friends: accepted, without effect on the CPU."""

    allow_tf32 = False
    allow_fp16_reduced_precision_reduction = True
    allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built():
    """False: this tessel build has no CUDA kernels."""
    return False
