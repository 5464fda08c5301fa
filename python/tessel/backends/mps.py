"""ts.backends.mps: Apple's Metal backend, which tessel does not have."""


def is_available():
    """False: tessel has no MPS backend."""
    return False


def is_built():
    """False: tessel has no MPS backend."""
    return False
