"""parameters_to_vector and vector_to_parameters."""
import tessel as ts


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (a copy)."""
    return ts.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Make the parameters views of consecutive slices of vec (as PyTorch, via .data)."""
    if not isinstance(vec, ts.Tensor):
        raise TypeError(f"expected ts.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n
