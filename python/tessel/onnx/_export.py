"""``ts.onnx.export``: trace a model at the op level and write an ONNX file.

The C++ exporter (src/onnx/export.cpp) records the ops one forward pass
dispatches, in eval mode and without autograd, and maps each onto ONNX nodes.
"""
import io
import os

from .. import _C

_onnx = _C._onnx


def _as_list(args):
    from .. import Tensor

    if isinstance(args, Tensor):
        return [args]
    if isinstance(args, (tuple, list)) and all(isinstance(a, Tensor) for a in args):
        return list(args)
    raise TypeError("onnx.export: args must be a Tensor or a tuple of Tensors "
                    f"(keyword and non-tensor arguments are not supported), got {type(args).__name__}")


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
           external_data=False, **kwargs):
    """Exports ``model(*args)`` to ONNX, as ``torch.onnx.export`` does.

    ``f`` is a path or a binary file object. Parameters and buffers become
    initializers named by their module path; the model runs in eval mode (its
    training flags are restored after). ``dynamic_axes`` maps input/output names
    to ``{dim: "name"}`` (or a list of dims). ``external_data=True`` (or a model
    over 2 GB) writes weights to ``<f>.data`` next to the file.
    """
    from ..nn import Module

    unknown = set(kwargs) - {"verbose", "do_constant_folding", "export_params", "training", "dynamo"}
    if unknown:
        raise TypeError(f"onnx.export: unexpected keyword arguments {sorted(unknown)}")
    if kwargs.get("export_params", True) is False:
        raise NotImplementedError("onnx.export: export_params=False is not supported (weights are always exported)")
    if kwargs.get("training") not in (None, False) and str(kwargs.get("training")) not in ("TrainingMode.EVAL",):
        raise NotImplementedError("onnx.export: only eval-mode export is supported")
    inputs = _as_list(args)
    params, modes = [], []
    if isinstance(model, Module):
        params = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if b is not None]
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
    elif not callable(model):
        raise TypeError(f"onnx.export: model must be a tessel.nn.Module or a callable, got {type(model).__name__}")

    def fn(xs):
        return _outputs(model(*xs))

    path = ""
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
    elif external_data:
        raise ValueError("onnx.export: external_data needs f to be a path")
    try:
        data = _onnx.export(fn, inputs, params, list(input_names or []), list(output_names or []),
                            _axes(dynamic_axes), int(opset_version), bool(external_data), path)
    finally:
        for m, was in modes:
            m.training = was
    if not path:
        if not isinstance(f, io.IOBase) and not hasattr(f, "write"):
            raise TypeError(f"onnx.export: f must be a path or a binary file object, got {type(f).__name__}")
        f.write(data)
