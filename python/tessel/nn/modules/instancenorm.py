"""InstanceNorm1d/2d/3d: per-sample, per-channel normalization (style transfer, GANs).
As in PyTorch, affine and track_running_stats default to False."""
from .. import functional as F
from .normalization import _BatchNorm


class _InstanceNorm(_BatchNorm):
    _dims = 1

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):
        d = self._dims
        name = type(self).__name__
        if input.dim() not in (d + 1, d + 2):
            raise ValueError(f"{name}: expected {d + 1}D (unbatched) or {d + 2}D (batched) input, "
                             f"got {input.dim()}D")
        unbatched = input.dim() == d + 1
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features and self.affine:
            raise ValueError(f"{name}: expected input with {self.num_features} channels, got {input.shape[1]}")
        use_input_stats = self.training or not self.track_running_stats
        out = F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                              self.momentum if self.momentum is not None else 0.1, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    _dims = 1


class InstanceNorm2d(_InstanceNorm):
    _dims = 2


class InstanceNorm3d(_InstanceNorm):
    _dims = 3
