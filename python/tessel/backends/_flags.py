"""A bool flag kept in C++ (tessel/cuda.h), as a property of a flags object or module."""


def c_flag(get, set_, doc=None):
    return property(lambda self: bool(get()), lambda self, value: set_(bool(value)), doc=doc)
