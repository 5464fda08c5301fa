"""tessel.Size: the type of ``x.shape`` and ``x.size()``, a tuple of ints as torch.Size."""
import operator


class Size(tuple):
    """A tensor's shape: a tuple of ints that prints as ``tessel.Size([2, 3])``.

    It compares equal to plain tuples (``x.shape == (2, 3)``), and slicing,
    ``+`` and ``*`` keep the type.
    """

    __slots__ = ()
    __module__ = "tessel"  # pickles and prints as tessel.Size

    def __new__(cls, sizes=()):
        try:
            items = tuple(operator.index(s) for s in sizes)
        except TypeError:
            bad = next((s for s in sizes if not _is_int(s)), sizes)
            raise TypeError(f"tessel.Size() takes an iterable of 'int', got {type(bad).__name__}") from None
        return super().__new__(cls, items)

    def numel(self):
        """The number of elements a tensor of this shape holds (1 for ``Size([])``)."""
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"tessel.Size({list(self)})"

    __str__ = __repr__

    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return Size(item) if isinstance(key, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        if not _is_int(n):
            return NotImplemented
        return Size(tuple(self) * n)

    __rmul__ = __mul__

    def __reduce__(self):
        return (Size, (tuple(self),))


def _is_int(v):
    try:
        operator.index(v)
        return True
    except TypeError:
        return False
