"""The CIFAR-10 "aug" augmentation: Keras ``ImageDataGenerator`` with shift 0.1 and horizontal flips,
on whole batches."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _shift_axis(x: Tensor, shift: Tensor, dim: int) -> Tensor:
    """Linear-interpolation shift along ``dim`` (-1 or -2) with edge replication.

    ``out[..., i] = x[..., i - shift]`` where the source position is clamped
    to [0, size - 1], i.e. scipy ``order=1, mode='nearest'``. Integer shifts
    are exact.
    """
    b, n = x.shape[0], x.shape[dim]
    pos = torch.arange(n, device=x.device, dtype=x.dtype)[None, :] - shift[:, None]
    pos = pos.clamp(0, n - 1)
    lo = pos.floor()
    w = pos - lo
    lo = lo.long()
    hi = (lo + 1).clamp(max=n - 1)
    view = (b, 1, 1, n) if dim == -1 else (b, 1, n, 1)
    lo, hi, w = lo.view(view).expand_as(x), hi.view(view).expand_as(x), w.view(view)
    return x.gather(dim, lo) * (1 - w) + x.gather(dim, hi) * w


def translate(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Shifts each image by a (sub-)pixel offset with bilinear interpolation.

    Content moves ``dy`` pixels down and ``dx`` right; the uncovered border
    repeats the edge pixels (Keras ``fill_mode='nearest'``). Equals
    ``F.grid_sample(mode='bilinear', padding_mode='border', align_corners=False)``
    on a translated identity grid, and integer shifts are exact.

    Args:
        x: ``(B, C, H, W)`` floating point.
        dy: ``(B,)`` vertical shifts in pixels.
        dx: ``(B,)`` horizontal shifts in pixels.

    Returns:
        ``(B, C, H, W)``.
    """
    dy = dy.to(device=x.device, dtype=x.dtype)
    dx = dx.to(device=x.device, dtype=x.dtype)
    return _shift_axis(_shift_axis(x, dy, -2), dx, -1)


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    dev = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=dev).to(device)


def shift_flip(
    x: Tensor, shift: float = 0.1, flip: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    """Random shift + horizontal flip per sample (Keras ``ImageDataGenerator``).

    Shifts are uniform in ``±shift·H`` (vertical) and ``±shift·W`` (horizontal),
    continuous, bilinear, edge-filled; then each image is flipped left-right
    with probability 0.5.

    Args:
        x: ``(B, C, H, W)`` floating point, on any device.
        shift: Fraction of the image size (Keras width/height_shift_range).
        flip: Enable the random horizontal flip.
        generator: Optional generator (on CPU or on ``x``'s device) for determinism.

    Returns:
        ``(B, C, H, W)``, a new tensor.
    """
    b, _, h, w = x.shape
    out = x
    if shift > 0:
        dy = (2 * _uniform(b, generator, x.device) - 1) * (shift * h)
        dx = (2 * _uniform(b, generator, x.device) - 1) * (shift * w)
        out = translate(x, dy, dx)
    if flip:
        mask = (_uniform(b, generator, x.device) < 0.5).view(b, 1, 1, 1)
        out = torch.where(mask, out.flip(-1), out)
    return out if out is not x else x.clone()


class ShiftFlip(nn.Module):
    """CIFAR-10 "aug" augmentation as a batch module; identity in eval mode.

    Args:
        shift: Fraction of the image size for the uniform random shifts.
        flip: Enable the random horizontal flip (p = 0.5).
    """

    def __init__(self, shift: float = 0.1, flip: bool = True) -> None:
        super().__init__()
        self.shift = shift
        self.flip = flip

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augments ``x`` ``(B, C, H, W)`` in train mode; returns ``x`` itself in eval mode."""
        if not self.training:
            return x
        return shift_flip(x, self.shift, self.flip, generator)

    def extra_repr(self) -> str:
        return f"shift={self.shift}, flip={self.flip}"
