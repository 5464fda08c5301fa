"""pixel_shuffle / pixel_unshuffle (sub-pixel convolution upsampling) and
channel_shuffle, as reshapes and permutes."""


def _check(input, op):
    if input.dim() < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got {input.dim()}D")


def pixel_shuffle(input, upscale_factor):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r)."""
    op, r = "pixel_shuffle", int(upscale_factor)
    _check(input, op)
    if r <= 0:
        raise ValueError(f"{op}: upscale_factor must be positive, got {upscale_factor}")
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"{op}: the channel count {c} must be divisible by upscale_factor**2 = {r * r}")
    n = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W), the inverse of pixel_shuffle."""
    op, r = "pixel_unshuffle", int(downscale_factor)
    _check(input, op)
    if r <= 0:
        raise ValueError(f"{op}: downscale_factor must be positive, got {downscale_factor}")
    *batch, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"{op}: height {h} and width {w} must be divisible by downscale_factor {r}")
    n = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*batch, c * r * r, h // r, w // r)


def channel_shuffle(input, groups):
    """(N, g * k, *) -> channels reordered as the transpose of the (g, k) grid (ShuffleNet)."""
    if input.dim() < 3:
        raise ValueError(f"channel_shuffle: expected an input of at least 3 dims, got {input.dim()}D")
    n, c = input.shape[0], input.shape[1]
    if groups <= 0 or c % groups:
        raise ValueError(f"channel_shuffle: {c} channels cannot be split into {groups} groups")
    rest = tuple(input.shape[2:])
    return input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)
