"""ts.backends.openmp: tessel's CPU kernels (and oneDNN) run their parallel loops with OpenMP."""


def is_available():
    """True: every tessel build uses OpenMP (see ts.set_num_threads)."""
    return True
