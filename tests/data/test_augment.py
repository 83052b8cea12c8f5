"""tdlib.data.augment: the CIFAR-10 shift-and-flip augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tdlib.data import (
    ShiftFlip,
    shift_flip,
    translate,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_flip_only():
    x = torch.rand(64, 3, 8, 8)
    out = shift_flip(x, shift=0.0, flip=True, generator=_gen(0))
    flipped = torch.tensor([torch.equal(o, f) for o, f in zip(out, x.flip(-1), strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert (flipped | kept).all()
    assert 10 < int(flipped.sum()) < 54  # p = 0.5
    assert torch.equal(shift_flip(x, shift=0.0, flip=False), x)


@pytest.mark.parametrize(("dy", "dx"), [(0, 3), (0, -2), (2, 0), (-3, 1)])
def test_integer_translate_is_roll_with_edge(dy, dx):
    x = torch.rand(2, 3, 10, 12)
    out = translate(x, torch.tensor([dy, dy]), torch.tensor([dx, dx]))
    # Edge-padded reference: rows/cols clamp to the border.
    rows = (torch.arange(10) - dy).clamp(0, 9)
    cols = (torch.arange(12) - dx).clamp(0, 11)
    ref = x[:, :, rows][:, :, :, cols]
    assert torch.equal(out, ref)
    rolled = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    r0, r1 = max(dy, 0), 10 + min(dy, 0)
    c0, c1 = max(dx, 0), 12 + min(dx, 0)
    assert torch.equal(out[..., r0:r1, c0:c1], rolled[..., r0:r1, c0:c1])
    if dx > 0:
        assert torch.equal(out[..., c0 - 1], out[..., c0])  # replicated left edge
        assert torch.equal(out[..., 0], ref[..., 0])


def test_translate_matches_keras_and_grid_sample():
    ndimage = pytest.importorskip("scipy.ndimage")
    g = _gen(1)
    x = torch.rand(6, 2, 9, 11, generator=g)
    dy = (torch.rand(6, generator=g) * 2 - 1) * 3.3
    dx = (torch.rand(6, generator=g) * 2 - 1) * 4.1
    out = translate(x, dy, dx)
    # Keras apply_affine_transform: scipy affine_transform, order 1, mode 'nearest'.
    for b in range(6):
        for c in range(2):
            ref = ndimage.affine_transform(
                x[b, c].double().numpy(),
                np.eye(2),
                offset=(-dy[b].item(), -dx[b].item()),
                order=1,
                mode="nearest",
            )
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=1e-5)
    theta = torch.zeros(6, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * dx / 11
    theta[:, 1, 2] = -2 * dy / 9
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_shift_range_is_fraction_of_size():
    """A horizontal (vertical) ramp reveals the drawn shift: uniform in ±0.1·W (±0.1·H)."""
    b, h, w = 2000, 20, 40
    ramp_x = torch.arange(w, dtype=torch.float32).expand(b, 1, h, w)
    ramp_y = torch.arange(h, dtype=torch.float32)[:, None].expand(b, 1, h, w)
    x = torch.cat([ramp_x, ramp_y], dim=1)
    out = shift_flip(x, shift=0.1, flip=False, generator=_gen(2))
    dx = w // 2 - out[:, 0, h // 2, w // 2]
    dy = h // 2 - out[:, 1, h // 2, w // 2]
    for d, limit in ((dx, 0.1 * w), (dy, 0.1 * h)):
        assert d.abs().max() <= limit + 1e-4
        assert d.max() > 0.95 * limit and d.min() < -0.95 * limit
        assert abs(d.mean().item()) < 0.1 * limit
        assert (d != d.round()).float().mean() > 0.9  # continuous, not integer shifts
    assert dx.std() > 1.5 * dy.std()  # each axis scales with its own size


def test_shiftflip_module_train_eval_and_determinism():
    x = torch.rand(32, 3, 32, 32, generator=_gen(3))
    aug = ShiftFlip()
    assert aug.training
    out = aug(x, generator=_gen(4))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.allclose(out, x)
    assert (out - x).abs().mean() > 0.05
    torch.testing.assert_close(out, aug(x, generator=_gen(4)), atol=0, rtol=0)
    torch.testing.assert_close(out, shift_flip(x, 0.1, True, _gen(4)), atol=0, rtol=0)
    assert not torch.equal(out, aug(x, generator=_gen(5)))
    aug.eval()
    assert aug(x) is x


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_shiftflip_cuda_matches_cpu():
    x = torch.rand(16, 3, 32, 32, generator=_gen(6))
    cpu = shift_flip(x, 0.1, True, _gen(7))
    gpu = shift_flip(x.cuda(), 0.1, True, _gen(7))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)


