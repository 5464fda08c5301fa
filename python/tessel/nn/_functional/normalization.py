"""instance_norm: batch normalization of each (sample, channel) on its own,
run as batch_norm on a (1, N * C, *) view (running statistics averaged back
over the batch)."""
from tessel import _C


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    if input.dim() < 3:
        raise ValueError(f"instance_norm: expected an input of at least 3 dims (N, C, *), got {input.dim()}D")
    n, c = input.shape[0], input.shape[1]
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and running_var")
        return _C._nn.batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if tuple(input.shape[2:]) and min(input.shape[2:]) == 0 or all(s == 1 for s in input.shape[2:]):
        raise ValueError(f"instance_norm: expected more than 1 spatial element per channel, got input shape "
                         f"{list(input.shape)}")
    x = input.reshape(1, n * c, *input.shape[2:])
    rm = running_mean.repeat(n) if running_mean is not None else None
    rv = running_var.repeat(n) if running_var is not None else None
    w = weight.repeat(n) if weight is not None else None
    b = bias.repeat(n) if bias is not None else None
    out = _C._nn.batch_norm(x, rm, rv, w, b, True, momentum, eps)
    if rm is not None:
        running_mean.copy_(rm.reshape(n, c).mean(0))
    if rv is not None:
        running_var.copy_(rv.reshape(n, c).mean(0))
    return out.reshape(input.shape)
