"""ONNX model import: run .onnx models with tessel's ops.

``ts.onnx.load(path)`` returns a callable :class:`Model`;
``ts.onnx.InferenceSession(path)`` mirrors onnxruntime's session (NumPy in and out).
``ts.onnx.export(model, args, path)`` writes a model (see _export.py).
See docs/onnx.md for the supported ops.
"""
import os

from .. import _C

__all__ = ["load", "export", "Model", "InferenceSession", "ValueInfo", "available"]

_onnx = _C._onnx

from ._export import export  # noqa: E402


def available():
    """Whether tessel was built with ONNX support (TESSEL_WITH_ONNX)."""
    return _onnx.available()


class ValueInfo:
    """A graph input or output: ``name``, ``type`` (ONNX's, e.g. ``'tensor(float)'``),
    ``dtype`` (tessel's; None for ``'tensor(string)'``) and ``shape`` (ints, names of symbolic dims, None for
    unknown ones; None when the rank is unknown)."""

    __slots__ = ("name", "type", "dtype", "shape")

    def __init__(self, name, type, dtype, shape):
        self.name, self.type, self.dtype, self.shape = name, type, dtype, shape

    def __repr__(self):
        return f"ValueInfo(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


def _infos(raw):
    return [ValueInfo(*r) for r in raw]


def _is_string_array(v):
    """A NumPy array of str/bytes/objects: the feed of a tensor(string) input."""
    kind = getattr(getattr(v, "dtype", None), "kind", None)
    return kind in ("U", "S", "O")


def _string_feed(name, v):
    """(shape, [str | bytes]) for the binding, from an array or nested list of strings."""
    import numpy as np

    a = np.asarray(v, dtype=object) if not _is_string_array(v) else np.asarray(v)
    if a.dtype.kind == "U":
        a = a.astype(object)
    elif a.dtype.kind == "S":
        a = np.array([bytes(x) for x in a.ravel()], dtype=object).reshape(a.shape)
    return (list(a.shape), list(a.ravel(order="C")))


def _strings_out(value):
    """NumPy object array of str (onnxruntime's form) from (shape, list)."""
    import numpy as np

    shape, items = value
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)


def _element_feed(name, v, string_input=False):
    """A tensor or string tensor of a feed for the binding."""
    from .. import Tensor, as_tensor

    # A numeric feed of a string input goes through as a tensor: the runtime names the mismatch.
    if _is_string_array(v) or (string_input and isinstance(v, (list, tuple, str, bytes))):
        return _string_feed(name, v)
    if isinstance(v, Tensor):
        return v
    import numpy as np

    return as_tensor(np.asarray(v, order="C"))


def _value_out(v):
    """A result of run_values as Model.run returns it (strings as NumPy object arrays)."""
    if isinstance(v, tuple):
        return _strings_out(v)
    if isinstance(v, list):
        return [_value_out(x) for x in v]
    return v


def _load_raw(f):
    if isinstance(f, (bytes, bytearray, memoryview)):
        return _onnx.Model.load_bytes(bytes(f))
    if isinstance(f, os.PathLike):
        f = os.fspath(f)
    if not isinstance(f, str):
        raise TypeError(f"onnx.load: expected a path or bytes, got {type(f).__name__}")
    return _onnx.Model.load(f)


class Model:
    """A loaded ONNX model. Call it with the inputs in graph order (or by name):
    one output comes back as a Tensor, several as a tuple."""

    def __init__(self, f):
        self._m = _load_raw(f)
        self.inputs = _infos(self._m.inputs)
        self.outputs = _infos(self._m.outputs)
        self._string_inputs = {i.name for i in self.inputs if i.type == "tensor(string)"}
        # seq(...) and optional(...) inputs: lists (of tensors or string arrays) and None.
        self._value_inputs = {i.name: i.type for i in self.inputs if not i.type.startswith("tensor(")}
        # Any string, sequence or optional input or output sends runs through run_values.
        self._strings = bool(self._string_inputs) or bool(self._value_inputs) or \
            any(o.type == "tensor(string)" or not o.type.startswith("tensor(") for o in self.outputs)

    @property
    def value_info(self):
        """``{name: ValueInfo}`` inferred at load for the graph inputs and every
        node output (subgraphs included): symbolic dims are names or expressions
        of the inputs' dims (``'batch'``, ``'batch*seq'``), None when unknown;
        ``type`` is ``'unknown'`` when the dtype could not be inferred."""
        return {r[0]: ValueInfo(*r) for r in self._m.value_info}

    def memory_estimate(self, input_shapes):
        """Bytes of intermediates for inputs of the given shapes (``{name: shape}``),
        under the executor's free-after-last-use order: a dict with ``peak_bytes``,
        ``total_bytes`` (no reuse), ``peak_node`` and ``unknown`` (values whose size
        could not be inferred, counted as 0)."""
        if not isinstance(input_shapes, dict):
            raise TypeError(f"onnx.memory_estimate: input_shapes must be a dict, got {type(input_shapes).__name__}")
        return self._m.memory_estimate([(k, list(v)) for k, v in input_shapes.items()])

    def memory_stats(self):
        """Where this model's run buffers came from: ``pool_hits`` (buffers of 64 KiB and more
        reused from the model's pool, which each value returns to after its last use),
        ``pool_misses`` (asked from the system) and ``free_bytes`` (held free now, at most 1 GiB).
        From the second run of the same shapes on, a run adds hits and no misses."""
        return self._m.memory_stats()

    @property
    def opset(self):
        return self._m.opset

    @property
    def ir_version(self):
        return self._m.ir_version

    @property
    def producer_name(self):
        return self._m.producer_name

    def run(self, feed):
        """Runs the graph on ``{input name: Tensor}``; returns ``{output name: Tensor}``.
        ``tensor(string)`` inputs take NumPy str/object arrays (or nested lists of
        str); string outputs come back as NumPy object arrays of str, as in onnxruntime.
        ``seq(...)`` inputs take a list of those, an empty ``optional(...)`` None; sequence
        outputs come back as lists, empty optionals as None."""
        if not isinstance(feed, dict):
            raise TypeError(f"onnx.run: feed must be a dict of name -> Tensor, got {type(feed).__name__}")
        if not self._strings:
            # The common case, in C++ (the Python around it was a tenth of a small model's 13 us).
            out = self._m.run_dict(feed)
            if out is not None:
                return out
        items = []
        for k, v in feed.items():
            if k in self._value_inputs and isinstance(v, dict):  # a map(K, V) input: the binding converts it
                pass
            elif k in self._value_inputs and isinstance(v, (list, tuple)):
                v = [_element_feed(k, x) for x in v]
            elif v is not None:
                v = _element_feed(k, v, k in self._string_inputs)
            items.append((k, v))
        return {k: _value_out(v) for k, v in self._m.run_values(items)}

    def __call__(self, *args, **kwargs):
        if len(args) > len(self.inputs):
            raise TypeError(f"onnx model takes {len(self.inputs)} inputs, got {len(args)}")
        feed = {info.name: a for info, a in zip(self.inputs, args)}
        for k, v in kwargs.items():
            if k in feed:
                raise TypeError(f"onnx model got input {k!r} twice")
            feed[k] = v
        out = self.run(feed)
        values = tuple(out[o.name] for o in self.outputs)
        return values[0] if len(values) == 1 else values

    def __repr__(self):
        return f"onnx.Model(inputs={[i.name for i in self.inputs]}, outputs={[o.name for o in self.outputs]}, opset={self.opset})"


def load(f):
    """Loads an ONNX model from a path or bytes (external data only from a path)."""
    return Model(f)


class _NodeArg:
    """onnxruntime's NodeArg: ``.name``, ``.type``, ``.shape``."""

    __slots__ = ("name", "type", "shape")

    def __init__(self, info):
        self.name, self.type = info.name, info.type
        self.shape = list(info.shape) if info.shape is not None else None

    def __repr__(self):
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


class InferenceSession:
    """onnxruntime-style session: ``get_inputs()``, ``get_outputs()`` and
    ``run(output_names, input_feed)`` with NumPy arrays in and out. Extra
    keyword arguments (providers, sess_options) are accepted and ignored: tessel runs on CPU."""

    def __init__(self, path_or_bytes, sess_options=None, providers=None, **kwargs):
        self._model = Model(path_or_bytes)
        self._output_names = [o.name for o in self._model.outputs]

    def get_inputs(self):
        return [_NodeArg(i) for i in self._model.inputs]

    def get_outputs(self):
        return [_NodeArg(o) for o in self._model.outputs]

    def run(self, output_names, input_feed, run_options=None):
        if not isinstance(input_feed, dict):
            raise TypeError(f"InferenceSession.run: input_feed must be a dict, got {type(input_feed).__name__}")
        if not self._model._strings:
            # Numeric models fed C-contiguous NumPy arrays: views in, arrays out, all in C++.
            out = self._model._m.run_arrays(input_feed, output_names)
            if out is not None:
                return out
        import numpy as np  # optional for tessel, needed here

        from .. import as_tensor

        # np.asarray keeps 0-d inputs 0-d (np.ascontiguousarray makes them 1-d).
        strings, values = self._model._string_inputs, self._model._value_inputs

        def tensor(v):
            return v if _is_string_array(v) else as_tensor(np.asarray(v, order="C"))

        feed = {}
        for k, v in input_feed.items():
            if k in values and isinstance(v, dict):  # a map(K, V)
                feed[k] = v
            elif k in values and (v is None or isinstance(v, (list, tuple))):
                feed[k] = v if v is None else [tensor(x) for x in v]  # a sequence, or an empty optional
            else:
                feed[k] = v if k in strings or _is_string_array(v) else tensor(v)
        out = self._model.run(feed)

        def numpy(v):
            if isinstance(v, list):
                return [numpy(x) for x in v]
            return v if v is None or isinstance(v, (np.ndarray, dict)) else v.numpy()  # dict: a ZipMap row

        return self._pick(out, output_names, numpy)

    def _pick(self, out, output_names, convert):
        names = self._output_names if output_names is None else output_names
        try:
            return [convert(out[n]) for n in names]
        except KeyError:
            missing = next(n for n in names if n not in out)
            raise ValueError(f"InferenceSession.run: {missing!r} is not an output of the model "
                             f"(outputs: {self._output_names})") from None
