"""tdlib.data.mesh: per-pixel labels, the 2x2 mesh layout, class weights, the real mesh set."""

from __future__ import annotations

import pytest
import torch

from tdlib.data import (
    BACKGROUND,
    IGNORE,
    MESH_INFO,
    class_weights,
    fashion_mnist_mesh,
    load_mesh_splits,
    mirror_dirs,
    pixel_labels,
    tile_meshes,
)
from tdlib.data import mesh as mesh_module


def test_labels_at_the_thresholds():
    # 0 -> background; (0, 0.2] -> ignore (0.2 itself included); above 0.2 -> the image's class
    x = torch.tensor([[[0.0, 1e-6, 0.2, 0.2000001, 1.0]]])
    assert pixel_labels(x, torch.tensor([7])).tolist() == [[[BACKGROUND, IGNORE, IGNORE, 7, 7]]]
    # uint8 input is divided by 255 first: 51/255 is exactly 0.2 (ignore), 52/255 is above it
    u = torch.tensor([[[0, 1, 51, 52, 255]]], dtype=torch.uint8)
    assert pixel_labels(u[:, None], torch.tensor([3])).tolist() == [[[BACKGROUND, IGNORE, IGNORE, 3, 3]]]
    with pytest.raises(ValueError, match=r"images \(N, H, W\) and classes \(N,\)"):
        pixel_labels(x, torch.tensor([1, 2]))


def test_mesh_layout_on_four_hand_made_images():
    # image i is filled with i + 1; its label with 10 * i
    images = torch.stack([torch.full((1, 2, 3), float(i + 1)) for i in range(4)])
    labels = torch.stack([torch.full((2, 3), 10 * i) for i in range(4)])
    mx, my = tile_meshes(images, labels)
    assert mx.shape == (1, 1, 4, 6) and my.shape == (1, 4, 6)
    expected = torch.tensor([[1.0] * 3 + [3.0] * 3] * 2 + [[2.0] * 3 + [4.0] * 3] * 2)  # i0 over i1 | i2 over i3
    assert torch.equal(mx[0, 0], expected)
    assert torch.equal(my[0], (expected.long() - 1) * 10)
    with pytest.raises(ValueError, match="4M"):
        tile_meshes(images[:3], labels[:3])


def test_meshes_keep_consecutive_fours_in_order():
    images = torch.arange(8 * 4, dtype=torch.float32).reshape(8, 1, 2, 2)
    mx, my = tile_meshes(images, images[:, 0].long())
    assert torch.equal(mx[1, 0, :2, :2], images[4, 0]) and torch.equal(mx[1, 0, 2:, 2:], images[7, 0])
    assert torch.equal(my[1], mx[1, 0].long())


def test_class_weights_on_a_toy_set():
    # 6 background, 3 of class 0, 2 of class 1, 1 ignore; the other classes need a pixel too
    labels = torch.tensor([BACKGROUND] * 6 + [0] * 3 + [1] * 2 + [IGNORE] + list(range(2, 10)))
    w = class_weights(labels)
    assert w.dtype == torch.float32 and w.shape == (12,)
    expected = torch.tensor([6 / 3, 6 / 2] + [6.0] * 8 + [1.0, 0.0])
    torch.testing.assert_close(w, expected)
    with pytest.raises(ValueError, match=r"classes \[5\] have no pixel"):
        class_weights(labels[labels != 5])


@pytest.fixture(scope="module")
def fmnist_root(tmp_path_factory):
    """A fresh writable root (the mirror's archives get copied into it); skips without the mirror."""
    if not any((d / "FashionMNIST/raw/train-images-idx3-ubyte.gz").exists() for d in mirror_dirs()):
        pytest.skip("no offline mirror holds Fashion-MNIST")
    return tmp_path_factory.mktemp("fmnist-root")


def test_real_meshes_shapes_labels_and_determinism(fmnist_root, monkeypatch):
    x, y = fashion_mnist_mesh("train", seed=0, root=fmnist_root, download=False)
    assert x.shape == (15_000, 1, 56, 56) and x.dtype == torch.float32
    assert y.shape == (15_000, 56, 56) and y.dtype == torch.int64
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    px = x[:, 0]
    assert torch.equal(y == BACKGROUND, px == 0) and torch.equal(y < 10, px > 0.2)
    assert torch.equal(y == IGNORE, (px > 0) & (px <= 0.2))
    # each 28x28 quadrant carries one garment class
    quads = y.reshape(15_000, 2, 28, 2, 28).permute(0, 1, 3, 2, 4).reshape(15_000, 4, -1)
    fg = quads < 10
    assert torch.equal(quads.masked_fill(~fg, -1).amax(-1).where(fg.any(-1), 0),
                       quads.masked_fill(~fg, 99).amin(-1).where(fg.any(-1), 0))

    # built again from scratch: the same meshes; another seed groups the images differently
    monkeypatch.setattr(mesh_module, "_CACHE", {})
    x2, y2 = fashion_mnist_mesh("train", seed=0, root=fmnist_root, download=False)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, y3 = fashion_mnist_mesh("train", seed=1, root=fmnist_root, download=False)
    assert not torch.equal(x, x3)
    # the weights count the same pixels whatever the grouping: background 1, ignore 0
    w = class_weights(y)
    assert torch.equal(w, class_weights(y3)) and w[BACKGROUND] == 1 and w[IGNORE] == 0 and bool((w[:10] > 1).all())

    xt, yt = fashion_mnist_mesh("test", seed=0, root=fmnist_root, download=False)
    assert xt.shape == (2_500, 1, 56, 56) and yt.shape == (2_500, 56, 56)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        fashion_mnist_mesh("val")


def test_mesh_splits_draw_a_fresh_validation_split_per_seed(fmnist_root):
    s = load_mesh_splits(seed=0, root=fmnist_root, download=False)
    assert s.info is MESH_INFO and s.mean is None
    assert s.x_train.shape == (13_500, 1, 56, 56) and s.y_train.shape == (13_500, 56, 56)
    assert s.x_val.shape == (1_500, 1, 56, 56) and s.x_test.shape == (2_500, 1, 56, 56)
    x, _ = fashion_mnist_mesh("train", seed=0, root=fmnist_root, download=False)
    # train and val partition the 15,000 training meshes
    sums = torch.cat([s.x_train, s.x_val]).flatten(1).double().sum(1)
    assert torch.equal(sums.sort().values, x.flatten(1).double().sum(1).sort().values)
    s1 = load_mesh_splits(seed=1, root=fmnist_root, download=False)
    assert not torch.equal(s.x_val, s1.x_val)
    assert torch.equal(s.x_test, s1.x_test)  # the meshes themselves do not depend on the repeat
