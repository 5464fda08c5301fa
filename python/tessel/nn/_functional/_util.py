"""Argument parsing shared by the composed functional ops."""
import numbers


def ntuple(x, n, op, name):
    """An int (or one-element sequence) repeated n times, or a sequence of n ints."""
    if isinstance(x, (tuple, list)):
        if len(x) == 1:
            x = x[0]
        elif len(x) != n:
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {tuple(x)}")
        else:
            return tuple(int(v) for v in x)
    if not isinstance(x, numbers.Integral) or isinstance(x, bool):
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {x!r}")
    return (int(x),) * n


def check_positive(values, op, name):
    if any(v <= 0 for v in values):
        raise ValueError(f"{op}: {name} must be positive, got {values}")


def check_reduction(reduction, op, allowed=("mean", "sum", "none")):
    if reduction not in allowed:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (expected one of {allowed})")


def reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
