"""One conversion to JSON-able values, shared by the train output folder, the
agent's artifacts and the automation tasks' results."""
import math

__all__ = ["jsonable"]


def jsonable(o):
    """`o` with NaN/inf as None, dict keys as strings, tuples as lists, NumPy
    scalars and arrays as Python numbers and lists, and anything else that JSON
    cannot hold as its str()."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if o is None or isinstance(o, (str, int, bool)):
        return o
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if getattr(o, "ndim", 0) and callable(getattr(o, "tolist", None)):  # arrays and tensors
        return jsonable(o.tolist())
    if callable(getattr(o, "item", None)):  # NumPy scalars, 0-d arrays
        try:
            return jsonable(o.item())
        except (TypeError, ValueError):
            pass
    return str(o)
