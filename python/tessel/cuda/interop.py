"""__cuda_array_interface__ (version 3) on CUDA tensors, for Numba, CuPy and others that read it.

CPU tensors have no such attribute (hasattr is False), as in PyTorch; they have __array_interface__'s
buffer instead. DLPack (``__dlpack__``, ``ts.from_dlpack``) covers CUDA tensors both ways.
"""
from .. import _C

# NumPy type strings; bfloat16 has none (use DLPack).
_TYPESTR = {"bool": "|b1", "uint8": "|u1", "int8": "|i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
            "uint16": "<u2", "uint32": "<u4", "uint64": "<u8",
            "float16": "<f2", "float32": "<f4", "float64": "<f8", "complex64": "<c8", "complex128": "<c16"}


def _cuda_array_interface(self):
    if self.device.type != "cuda":
        raise AttributeError("__cuda_array_interface__ exists only for CUDA tensors (this one is on "
                             f"{self.device}); use __array_interface__ / NumPy or DLPack")
    name = self.dtype.name
    if name not in _TYPESTR:
        raise TypeError(f"__cuda_array_interface__: {name} has no type string; use DLPack (ts.from_dlpack)")
    if self.requires_grad:
        raise RuntimeError("__cuda_array_interface__: the tensor requires grad; use tensor.detach()")
    item = self.element_size()
    shape = tuple(self.shape)
    strides = None if self.is_contiguous() else tuple(s * item for s in self.stride())
    stream = _C._cuda.current_stream(self.device.index or 0)
    return {"version": 3, "shape": shape, "typestr": _TYPESTR[name], "descr": [("", _TYPESTR[name])],
            "data": (self.data_ptr() if self.numel() else 0, False), "strides": strides,
            # the stream the data is ready on (1: the legacy default stream)
            "stream": stream if stream else 1}


def install(tensor_cls):
    if not hasattr(tensor_cls, "__cuda_array_interface__"):
        tensor_cls.__cuda_array_interface__ = property(_cuda_array_interface)
