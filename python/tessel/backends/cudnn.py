"""ts.backends.cudnn: cuDNN is not part of this CPU-only build.

The flags PyTorch scripts set (deterministic, benchmark, enabled, allow_tf32)
are plain module attributes here: setting them is accepted and changes nothing,
since no cuDNN kernel runs.
"""

enabled = True
deterministic = False
benchmark = False
allow_tf32 = True


def is_available():
    """False: tessel was built without cuDNN kernels."""
    return False


def version():
    """None: no cuDNN library is loaded (as torch.backends.cudnn.version() without cuDNN)."""
    return None
