"""Localisation scores on hand-made heatmaps and masks: IoU per threshold (both averagings), energy shares."""

from __future__ import annotations

import math

import pytest
import torch

from tdlib.explain import (
    THRESHOLDS,
    energy_share,
    localisation_iou,
    make_meshes,
    mesh_energy,
    object_mask,
    quadrant_masks,
)


def _case() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 4x4 images and heatmaps whose IoUs are easy to count.

    Image 0: object = the left two columns (8 pixels, values 0.9; the rest 0.1, below 0.2).
    Heat 0:  0.5 on the left column, 0.15 on the second, 0.35 on the third, 0 on the fourth.
    Image 1: object = one pixel (value 0.21 > 0.2). Heat 1: 0.05 everywhere, 1.0 on that pixel.
    """
    img = torch.full((2, 1, 4, 4), 0.1)
    img[0, 0, :, :2] = 0.9
    img[1, 0] = 0.0
    img[1, 0, 2, 3] = 0.21
    heat = torch.zeros(2, 4, 4)
    heat[0, :, 0], heat[0, :, 1], heat[0, :, 2] = 0.5, 0.15, 0.35
    heat[1] = 0.05
    heat[1, 2, 3] = 1.0
    return heat, img


def test_iou_at_each_threshold_both_readings():
    heat, img = _case()
    # image 0: hot = heat > thr. thr 0.0: cols 0-2 (12 px) -> inter 8, union 12; thr 0.1: same;
    # thr 0.2 and 0.3: cols 0 and 2 -> inter 4, union 12; thr 0.4: col 0 -> inter 4, union 8.
    # image 1: thr 0.0: all 16 hot -> 1/16; thr >= 0.1: only the object pixel -> 1/1.
    inter = torch.tensor([[8, 8, 4, 4, 4], [1, 1, 1, 1, 1]], dtype=torch.float64)
    union = torch.tensor([[12, 12, 12, 12, 8], [16, 1, 1, 1, 1]], dtype=torch.float64)
    per_image = localisation_iou(heat, img, reduce="none")
    torch.testing.assert_close(per_image.double(), inter / union)
    torch.testing.assert_close(localisation_iou(heat, img).double(), (inter / union).mean(0))
    torch.testing.assert_close(localisation_iou(heat, img, reduce="pooled").double(), inter.sum(0) / union.sum(0))
    assert localisation_iou(heat, img).shape == (len(THRESHOLDS),)


def test_strict_and_non_strict_thresholds_and_custom_ones():
    heat, img = _case()
    # heat 0.35 at thr 0.35: out with ">" , in with ">="
    strict = localisation_iou(heat, img, thresholds=(0.35,), reduce="none")[0, 0]
    loose = localisation_iou(heat, img, thresholds=(0.35,), reduce="none", strict=False)[0, 0]
    assert strict == pytest.approx(4 / 8) and loose == pytest.approx(4 / 12)
    # object threshold: at 0.05 the 0.1 background of image 0 becomes object too
    assert localisation_iou(heat, img, thresholds=(0.0,), object_threshold=0.05, reduce="none")[0, 0] == 12 / 16


def test_iou_with_a_boolean_mask_and_empty_masks():
    heat, img = _case()
    mask = object_mask(img)
    torch.testing.assert_close(localisation_iou(heat, mask), localisation_iou(heat, img))
    empty = torch.zeros(1, 4, 4)
    none = torch.zeros(1, 4, 4, dtype=torch.bool)
    assert math.isnan(localisation_iou(empty, none, reduce="none")[0, 0])  # 0/0: left out of the mean
    both = localisation_iou(torch.cat([empty, heat[:1]]), torch.cat([none, mask[:1]]), thresholds=(0.0,))
    assert both[0] == pytest.approx(8 / 12)


def test_iou_errors():
    heat, img = _case()
    with pytest.raises(ValueError, match="unknown reduce 'sum'.*mean_per_image, pooled, none"):
        localisation_iou(heat, img, reduce="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="differ in shape"):
        localisation_iou(heat[:, :2], img)
    with pytest.raises(ValueError, match="single-channel"):
        localisation_iou(heat, img.expand(2, 3, 4, 4))


def test_energy_share_by_hand():
    heat, img = _case()
    # image 0: mass 4*(0.5+0.15+0.35) = 4.0, on the object 4*(0.5+0.15) = 2.6
    # image 1: mass 15*0.05 + 1.0 = 1.75, on the object 1.0
    torch.testing.assert_close(energy_share(heat, img), torch.tensor([2.6 / 4.0, 1.0 / 1.75]))
    assert math.isnan(energy_share(torch.zeros(1, 4, 4), img[:1])[0])
    with pytest.raises(ValueError, match="non-negative"):
        energy_share(-heat, img)


def test_mesh_energy_by_hand():
    # four 2x2 images, classes 3, 5, 3, 7, each with its top-left pixel bright (object) and one faint one
    imgs = torch.zeros(4, 1, 2, 2)
    imgs[:, 0, 0, 0] = 1.0
    imgs[:, 0, 1, 1] = 0.1  # ignore class: not object, not background
    meshes, labels, quadrant_cls = make_meshes(imgs, torch.tensor([3, 5, 3, 7]))
    assert meshes.shape == (1, 1, 4, 4) and labels.shape == (1, 4, 4)
    assert quadrant_cls.tolist() == [[3, 5, 3, 7]]
    # quadrants: 0 top left, 1 bottom left, 2 top right, 3 bottom right; objects at (0,0), (2,0), (0,2), (2,2)
    assert labels[0, 0, 0] == 3 and labels[0, 2, 0] == 5 and labels[0, 0, 2] == 3 and labels[0, 2, 2] == 7
    heat = torch.zeros(1, 4, 4)
    heat[0, 0, 0], heat[0, 0, 2] = 3.0, 1.0  # on the two objects of class 3
    heat[0, 2, 0] = 2.0                      # on the class-5 object
    heat[0, 3, 3] = 2.0                      # on a faint pixel of quadrant 3
    e = mesh_energy(heat, labels, torch.tensor([3]))
    torch.testing.assert_close(e.on_target, torch.tensor([0.5]))
    torch.testing.assert_close(e.on_other, torch.tensor([0.25]))
    torch.testing.assert_close(e.off_object, torch.tensor([0.25]))
    torch.testing.assert_close(e.quadrants, torch.tensor([[3 / 8, 2 / 8, 1 / 8, 0.0]]))
    assert e.quadrant_classes.tolist() == [[3, 5, 3, 7]]
    assert e.is_target.tolist() == [[True, False, True, False]] and e.n_target.tolist() == [2]
    torch.testing.assert_close(e.balance, torch.tensor([(1 / 8) / (2 / 8)]))  # the weaker object gets half the mean
    torch.testing.assert_close(e.found, torch.tensor([1.0]))  # both >= half of their fair share (1/8 >= 1/8)
    one = mesh_energy(heat, labels, 5)  # one object of class 5: balance undefined
    assert math.isnan(one.balance[0]) and one.found[0] == 1.0
    torch.testing.assert_close(one.on_target, torch.tensor([0.25]))
    none = mesh_energy(heat, labels, 0)
    assert none.n_target[0] == 0 and math.isnan(none.found[0]) and none.on_target[0] == 0


def test_quadrant_masks_tile_the_mesh():
    q = quadrant_masks(4, 6)
    assert q.sum(0).eq(1).all() and q[0, 0, 0] and q[1, 3, 0] and q[2, 0, 5] and q[3, 3, 5]
    with pytest.raises(ValueError, match="even"):
        quadrant_masks(5, 4)
