"""ts.backends.mkldnn: oneDNN (formerly MKL-DNN), tessel's CPU backend for matmul,
convolution, pooling, normalization and softmax."""

enabled = True


def is_available():
    """True: every tessel build links oneDNN."""
    return True
