"""Seeds for samplers and loaders, drawn from a generator (ts.Generator, or any
object with its interface) or from tessel's default generator, so that
ts.manual_seed reproduces shuffling as in PyTorch."""
from .. import _C

_SEED_BOUND = 1 << 62


def _mix(x):
    # splitmix64: turns consecutive states into unrelated 64-bit values.
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def draw_seed(generator=None):
    """One 62-bit seed from `generator` (None: the default generator)."""
    if generator is None:
        return int(_C.randint(0, _SEED_BOUND, (1,)).item())
    if isinstance(generator, _C.Generator):
        return int(_C.randint(0, _SEED_BOUND, (1,), generator=generator).item())
    if callable(getattr(generator, "initial_seed", None)) and callable(getattr(generator, "manual_seed", None)):
        # Any other object with the Generator interface: the seed follows from its
        # current seed, and reseeding it moves it on, so the stream is reproducible.
        s = int(generator.initial_seed())
        generator.manual_seed(_mix(s ^ 0x5851F42D4C957F2D) % _SEED_BOUND)
        return _mix(s) % _SEED_BOUND
    raise TypeError(f"[data] generator must be a tessel.Generator (or an object with manual_seed and initial_seed) or None, "
                    f"got {type(generator).__name__}")

