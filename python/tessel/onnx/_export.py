"""``ts.onnx.export``: trace a model at the op level and write an ONNX file.

The C++ exporter (src/onnx/export.cpp) records the ops one forward pass
dispatches, in eval mode and without autograd, and maps each onto ONNX nodes.
"""
import io
import os

from .. import _C

_onnx = _C._onnx


def _split_args(args, kwargs):
    """The call's positional and keyword arguments (a dict as the last element of
    `args` is the keyword ones, as in torch.onnx.export), the tensors among them
    (the graph inputs, positional first) and the default names of those inputs
    (keyword tensors are named by their keyword). Other values (numbers, bools,
    strings, None) are passed to the model as they are: constants of the graph."""
    from .. import Tensor

    if isinstance(args, Tensor):
        args = (args,)
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"onnx.export: args must be a Tensor or a tuple, got {type(args).__name__}")
    args = list(args)
    if args and isinstance(args[-1], dict):
        if kwargs:
            raise TypeError("onnx.export: keyword arguments given both as args' last dict and as kwargs=")
        kwargs = args.pop()
    kwargs = dict(kwargs or {})
    for k in kwargs:
        if not isinstance(k, str):
            raise TypeError(f"onnx.export: keyword argument names must be strings, got {k!r}")
    allowed = (Tensor, bool, int, float, str, type(None))
    for where, v in [(f"args[{i}]", a) for i, a in enumerate(args)] + [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]:
        if not isinstance(v, allowed):
            raise TypeError(f"onnx.export: {where} must be a Tensor or a number, bool, string or None "
                            f"(baked into the graph), got {type(v).__name__}")
    tensors = [a for a in args if isinstance(a, Tensor)] + [v for v in kwargs.values() if isinstance(v, Tensor)]
    names = [None] * sum(isinstance(a, Tensor) for a in args) + [k for k, v in kwargs.items() if isinstance(v, Tensor)]
    return args, kwargs, tensors, names


def _call_with(args, kwargs, xs):
    """args and kwargs with their tensors replaced by xs, in order."""
    from .. import Tensor

    it = iter(xs)
    a = [next(it) if isinstance(v, Tensor) else v for v in args]
    k = {n: next(it) if isinstance(v, Tensor) else v for n, v in kwargs.items()}
    return a, k


def _outputs(out):
    from .. import Tensor

    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)) and all(isinstance(o, Tensor) for o in out):
        return list(out)
    raise TypeError(f"onnx.export: the model must return a Tensor or a tuple of Tensors, got {type(out).__name__}")


def _axes(dynamic_axes):
    out = {}
    for name, dims in (dynamic_axes or {}).items():
        if isinstance(dims, dict):
            out[name] = {int(d): str(s) for d, s in dims.items()}
        elif isinstance(dims, (list, tuple)):
            out[name] = {int(d): f"{name}_dynamic_axes_{k + 1}" for k, d in enumerate(dims)}
        else:
            raise TypeError(f"onnx.export: dynamic_axes[{name!r}] must be a dict or a list of dims, "
                            f"got {type(dims).__name__}")
    return out


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=18,
           external_data=False, *, kwargs=None, **options):
    """Exports ``model(*args, **kwargs)`` to ONNX, as ``torch.onnx.export`` does.

    ``f`` is a path or a binary file object. The tensors of ``args`` and then of
    ``kwargs`` (or of a dict ending ``args``) are the graph's inputs, a keyword
    tensor named by its keyword unless ``input_names`` names it; numbers, bools,
    strings and None are passed as they are and baked into the graph. Parameters
    and buffers become initializers named by their module path; the model runs
    in eval mode (its training flags are restored after). ``dynamic_axes`` maps
    input/output names to ``{dim: "name"}`` (or a list of dims).
    ``external_data=True`` (or a model over 2 GB) writes weights to ``<f>.data``
    next to the file.
    """
    from ..nn import Module

    unknown = set(options) - {"verbose", "do_constant_folding", "export_params", "training", "dynamo"}
    if unknown:
        raise TypeError(f"onnx.export: unexpected keyword arguments {sorted(unknown)}")
    if options.get("export_params", True) is False:
        raise NotImplementedError("onnx.export: export_params=False is not supported (weights are always exported)")
    if options.get("training") not in (None, False) and str(options.get("training")) not in ("TrainingMode.EVAL",):
        raise NotImplementedError("onnx.export: only eval-mode export is supported")
    call_args, call_kwargs, inputs, default_names = _split_args(args, kwargs)
    names = list(input_names or [])
    if len(names) > len(inputs):
        raise ValueError(f"onnx.export: input_names has {len(names)} names for {len(inputs)} tensor inputs")
    names += [n if n is not None else f"input_{k}" for k, n in enumerate(default_names)][len(names):]
    params, modes = [], []
    if isinstance(model, Module):
        params = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b is not None]
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
    elif not callable(model):
        raise TypeError(f"onnx.export: model must be a tessel.nn.Module or a callable, got {type(model).__name__}")

    def fn(xs):
        a, k = _call_with(call_args, call_kwargs, xs)
        return _outputs(model(*a, **k))

    path = ""
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
    elif external_data:
        raise ValueError("onnx.export: external_data needs f to be a path")
    try:
        data = _onnx.export(fn, inputs, params, names, list(output_names or []),
                            _axes(dynamic_axes), int(opset_version), bool(external_data), path)
    finally:
        for m, was in modes:
            m.training = was
    if not path:
        if not isinstance(f, io.IOBase) and not hasattr(f, "write"):
            raise TypeError(f"onnx.export: f must be a path or a binary file object, got {type(f).__name__}")
        f.write(data)
