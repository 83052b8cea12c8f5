"""The toy segmentation set of Experiment 3: 2x2 meshes of Fashion-MNIST images (experiments.md §1.3).

Every Fashion-MNIST image gets a per-pixel label from 12 classes: its garment class
(0-9) where the pixel is brighter than :data:`THRESHOLD` (0.2 in [0, 1]),
:data:`BACKGROUND` (10) where it is exactly 0, and :data:`IGNORE` (11) in between. The
images are shuffled (seeded) and taken four at a time into a 56x56 mesh: ``i0`` above
``i1`` in the left column, ``i2`` above ``i3`` in the right one. The 60,000 training
images give 15,000 training meshes and the 10,000 test images 2,500 test meshes.

Class weights (paper Eq. 1) are ``w_k = N_background / N_k`` over the training meshes,
with the ignore class set to 0 (:func:`class_weights`). Each repeat draws a fresh random
10% validation split of the training meshes (:func:`load_mesh_splits`).

Where ours differs from the original: the original shuffles with NumPy's global
generator and no seed; here the shuffle is seeded (:func:`fashion_mnist_mesh`). The
class weights do not depend on it: a shuffle only rearranges the same pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .sources import DATASETS, DatasetInfo, load_arrays
from .splits import Splits, take_subsets, validation_indices

#: Classes of a pixel: Fashion-MNIST's 10, background and ignore.
NUM_CLASSES = 12
#: Label of pixels that are exactly 0.
BACKGROUND = 10
#: Label of pixels in (0, THRESHOLD]; weight 0 in the loss.
IGNORE = 11
#: A pixel brighter than this (in [0, 1]) carries its image's class.
THRESHOLD = 0.2
#: Meshes per split: a quarter of Fashion-MNIST's 60,000 / 10,000 images.
MESH_COUNTS = {"train": 15_000, "test": 2_500}

MESH_INFO = DatasetInfo(
    "fashion_mnist_mesh", (1, 56, 56), NUM_CLASSES,
    (*DATASETS["fashion_mnist"].classes, "background", "ignore"), False,
    MESH_COUNTS["train"], MESH_COUNTS["test"],
)
"""Facts about the mesh set (not in :data:`~tdlib.data.DATASETS`: :func:`load_arrays` does not load it)."""

Split = Literal["train", "test"]


def pixel_labels(images: Tensor, classes: Tensor, threshold: float = THRESHOLD) -> Tensor:
    """Per-pixel labels of single images.

    Args:
        images: ``(N, H, W)`` or ``(N, 1, H, W)``: floats in [0, 1], or uint8 (divided by
            255 first, in float32, as the original; 51/255 is then exactly 0.2: ignore).
        classes: Image classes ``(N,)`` in 0..9.
        threshold: Pixels ``> threshold`` get the image's class.

    Returns:
        int64 ``(N, H, W)``: the class, :data:`BACKGROUND` (pixel == 0) or :data:`IGNORE`.
    """
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected one channel, got images of shape {tuple(images.shape)}")
        images = images[:, 0]
    if images.dim() != 3 or classes.shape != (images.shape[0],):
        raise ValueError(f"expected images (N, H, W) and classes (N,), got {tuple(images.shape)} "
                         f"and {tuple(classes.shape)}")
    if images.dtype == torch.uint8:
        images = images.to(torch.float32) / 255.0
    labels = torch.full(images.shape, IGNORE, dtype=torch.int64)
    labels[images == 0] = BACKGROUND
    fg = images > threshold
    labels[fg] = classes.to(torch.int64).view(-1, 1, 1).expand_as(labels)[fg]
    return labels


def tile_meshes(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Group consecutive fours into 2x2 meshes: ``i0`` over ``i1`` on the left, ``i2`` over ``i3`` on the right.

    Args:
        images: ``(4M, C, H, W)``.
        labels: ``(4M, H, W)``.

    Returns:
        ``(M, C, 2H, 2W)`` images and ``(M, 2H, 2W)`` labels, dtypes kept.
    """
    n = images.shape[0]
    if n % 4 or images.dim() != 4 or labels.shape != (n, *images.shape[2:]):
        raise ValueError(f"expected images (4M, C, H, W) and labels (4M, H, W), got {tuple(images.shape)} "
                         f"and {tuple(labels.shape)}")

    def tile(t: Tensor) -> Tensor:
        # (M, 2 cols, 2 rows, ..., H, W) -> rows stacked in each column, columns side by side
        g = t.reshape(n // 4, 2, 2, *t.shape[1:])
        col = torch.cat([g[:, :, 0], g[:, :, 1]], dim=-2)  # (M, 2, ..., 2H, W)
        return torch.cat([col[:, 0], col[:, 1]], dim=-1)    # (M, ..., 2H, 2W)

    return tile(images), tile(labels)


#: uint8 meshes built in this process: (split, seed, root) -> (images (M, 1, 56, 56), labels (M, 56, 56)).
_CACHE: dict[tuple[str, int, str | None], tuple[Tensor, Tensor]] = {}


def fashion_mnist_mesh(split: Split, seed: int = 0, *, root: Path | None = None,
                       download: bool = True) -> tuple[Tensor, Tensor]:
    """The 2x2 Fashion-MNIST meshes of one split, deterministic for a seed.

    Built once per process (kept in memory as uint8); every call returns new tensors.

    Args:
        split: ``"train"`` (the 60,000 training images: 15,000 meshes) or ``"test"``
            (10,000 test images: 2,500 meshes).
        seed: Seed of the shuffle that groups the images.
        root: Writable dataset root of :func:`~tdlib.data.load_arrays`.
        download: Allow a torchvision download when no local copy or mirror has the data.

    Returns:
        Images float32 ``(M, 1, 56, 56)`` in [0, 1] and labels int64 ``(M, 56, 56)`` in 0..11.

    Raises:
        ValueError: Unknown split.
        DatasetNotFoundError: Fashion-MNIST is not available (the message lists what was tried).
    """
    if split not in MESH_COUNTS:
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")
    key = (split, int(seed), None if root is None else str(root))
    if key not in _CACHE:
        x, y = load_arrays("fashion_mnist", split == "train", root=root, download=download)
        order = np.random.default_rng([int(seed), 0 if split == "train" else 1]).permutation(len(x))
        images = torch.from_numpy(np.ascontiguousarray(x[order].transpose(0, 3, 1, 2)))
        labels = pixel_labels(images, torch.from_numpy(y[order])).to(torch.uint8)
        _CACHE[key] = tile_meshes(images, labels)
    images, labels = _CACHE[key]
    return images.to(torch.float32).div_(255.0), labels.to(torch.int64)


def pixel_counts(labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """Pixels per class ``(num_classes,)`` int64 of labels of any shape."""
    return torch.bincount(labels.reshape(-1), minlength=num_classes)[:num_classes]


def class_weights(labels: Tensor, num_classes: int = NUM_CLASSES, background: int = BACKGROUND,
                  ignore: int | None = IGNORE) -> Tensor:
    """Loss weights ``w_k = N_background / N_k`` (paper Eq. 1), the ignore class 0.

    Args:
        labels: Per-pixel labels of the training meshes, any shape (the original uses
            all 15,000, the later validation part included).
        num_classes: Number of classes.
        background: The class whose weight is 1.
        ignore: The class whose weight is 0 (``None``: none).

    Returns:
        float32 ``(num_classes,)``.

    Raises:
        ValueError: A class other than ``ignore`` has no pixel (its weight would be infinite).
    """
    n = pixel_counts(labels, num_classes).to(torch.float64)
    absent = [k for k in range(num_classes) if k != ignore and n[k] == 0]
    if absent:
        raise ValueError(f"classes {absent} have no pixel; their weight N_background / N_k is undefined")
    w = n[background] / n
    if ignore is not None:
        w[ignore] = 0.0
    return w.to(torch.float32)


def load_mesh_splits(*, seed: int = 0, val_fraction: float = 0.1, mesh_seed: int = 0,
                     train_subset: int | None = None, test_subset: int | None = None,
                     root: Path | None = None, download: bool = True) -> Splits:
    """Train/val/test meshes of one repeat: a fresh random validation split of the training meshes.

    As the original, the meshes are built once (``mesh_seed``) and each repeat (``seed``)
    draws a non-stratified ``val_fraction`` of the training meshes (1,500 of 15,000) with
    :func:`~tdlib.data.validation_indices`.

    Args:
        seed: Seed of the validation split and the subsets (the repeat index).
        val_fraction: Validation fraction of the training meshes.
        mesh_seed: Seed of :func:`fashion_mnist_mesh`.
        train_subset: Keep this many random training meshes before the split (smoke runs).
        test_subset: Keep this many random test meshes.
        root: Writable dataset root.
        download: Allow downloads.

    Returns:
        :class:`~tdlib.data.Splits` whose ``y_*`` are per-pixel labels ``(N, 56, 56)``,
        ``mean`` None and ``info`` :data:`MESH_INFO`.
    """
    x_tr, y_tr = fashion_mnist_mesh("train", mesh_seed, root=root, download=download)
    x_te, y_te = fashion_mnist_mesh("test", mesh_seed, root=root, download=download)
    x_tr, y_tr, x_te, y_te = take_subsets(x_tr, y_tr, x_te, y_te, train_subset, test_subset, seed)
    train_idx, val_idx = (torch.from_numpy(i) for i in validation_indices(len(x_tr), val_fraction, seed))
    return Splits(x_train=x_tr[train_idx], y_train=y_tr[train_idx], x_val=x_tr[val_idx], y_val=y_tr[val_idx],
                  x_test=x_te, y_test=y_te, mean=None, info=MESH_INFO)
