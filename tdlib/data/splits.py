"""From arrays to tensors: [0, 1] floats, the per-pixel training mean, subsets and the validation split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from .sources import DatasetInfo, dataset_info, load_arrays

#: numpy arrays (the classifiers' uint8 images) or tensors (the mesh set).
ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


def validation_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-stratified random train/val split, as the original ``validation_split``.

    The val set is ``ceil(fraction * n)`` indices drawn without replacement
    (``Generator.choice``); the rest, shuffled by the same generator, is train.

    Args:
        n: Number of samples.
        fraction: Validation fraction in [0, 1).
        seed: Seed of ``np.random.default_rng``.

    Returns:
        ``(train_idx, val_idx)``, int64 arrays that are disjoint and cover ``range(n)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    # The epsilon keeps float noise (0.1 * 70 = 7.000000000000001) from adding one sample.
    n_val = math.ceil(fraction * n - 1e-9)
    rng = np.random.default_rng(seed)
    val = rng.choice(n, size=n_val, replace=False).astype(np.int64)
    keep = np.ones(n, dtype=bool)
    keep[val] = False
    train = rng.permutation(np.flatnonzero(keep)).astype(np.int64)
    return train, val


@dataclass
class Splits:
    """Train/val/test tensors of one dataset.

    Attributes:
        x_train: float32 ``(N_train, C, H, W)``, in [0, 1] minus ``mean`` if set.
        y_train: int64 ``(N_train,)``.
        x_val: float32 ``(N_val, C, H, W)`` (N_val may be 0).
        y_val: int64 ``(N_val,)``.
        x_test: float32 ``(N_test, C, H, W)``.
        y_test: int64 ``(N_test,)``.
        mean: float32 ``(C, H, W)`` per-pixel mean of all training images that
            was subtracted everywhere, or None.
        info: The dataset's registry entry.
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: Tensor | None
    info: DatasetInfo


def _to_tensor(x: np.ndarray) -> Tensor:
    """uint8 ``(N, H, W, C)`` -> contiguous float32 ``(N, C, H, W)`` in [0, 1]."""
    chw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return chw.to(torch.float32).div_(255.0)


def take_subsets(x_tr: ArrayT, y_tr: ArrayT, x_te: ArrayT, y_te: ArrayT, train_subset: int | None,
                 test_subset: int | None, seed: int) -> tuple[ArrayT, ArrayT, ArrayT, ArrayT]:
    """Keep seeded random subsets of the training and test sets (None: all), in their original order."""
    keep = _subset(len(x_tr), train_subset, seed, 1, "train_subset")
    if keep is not None:
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    keep = _subset(len(x_te), test_subset, seed, 2, "test_subset")
    if keep is not None:
        x_te, y_te = x_te[keep], y_te[keep]
    return x_tr, y_tr, x_te, y_te


def _subset(n: int, k: int | None, seed: int, stream: int, what: str) -> np.ndarray | None:
    """Sorted random subset of ``k`` of ``n`` indices, or None for all."""
    if k is None:
        return None
    if not 1 <= k <= n:
        raise ValueError(f"{what} must be in [1, {n}], got {k}")
    return np.sort(np.random.default_rng([seed, stream]).choice(n, size=k, replace=False))


#: Per-pixel means already computed in this process, by a fingerprint of the training images.
_MEANS: dict[tuple[tuple[int, ...], bytes], Tensor] = {}


def pixel_mean_of(x_train: np.ndarray) -> Tensor:
    """Per-pixel, per-channel mean of uint8 training images ``(N, H, W, C)``, as float32 ``(C, H, W)`` in [0, 1].

    float64 accumulation over every image, as the original. Computed once per process for
    the same images (a grid of runs on CIFAR-10 asks for it once per run; it takes seconds
    on 50,000 images): the cache key is the array's shape and a hash of its bytes'
    first, middle and last image, so other arrays (a test's stand-in) never share a mean.
    """
    import hashlib

    n = len(x_train)
    probe = b"".join(x_train[i].tobytes() for i in sorted({0, n // 2, n - 1}) if n)
    key = (tuple(x_train.shape), hashlib.sha1(probe).digest())
    if key not in _MEANS:
        mean_hwc = x_train.mean(axis=0, dtype=np.float64) / 255.0
        _MEANS[key] = torch.from_numpy(np.ascontiguousarray(mean_hwc.transpose(2, 0, 1))).float()
    return _MEANS[key].clone()


def load_splits(
    name: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    pixel_mean: bool | None = None,
    train_subset: int | None = None,
    test_subset: int | None = None,
    root: Path | None = None,
    download: bool = True,
) -> Splits:
    """Loads a dataset and prepares it as in the original ``preprocessing``.

    Steps: uint8 / 255; per-pixel, per-channel mean over ALL official training
    images (if ``pixel_mean``) subtracted from train, val and test (no std
    division); optional random subsets; random val split of the training pool.

    Args:
        name: A key of :data:`DATASETS`. Imagenette is loaded at 128x128 for
            both splits here (the original's 156-px train crops and val-own
            mean are not reproduced by this function).
        seed: Seed of the val split (a repeat index in the original) and subsets.
        val_fraction: Validation fraction of the training pool; 0 gives empty val.
        pixel_mean: Subtract the training mean; default from the registry.
        train_subset: Keep this many random training images (before the val
            split, after the mean) for smoke runs; None keeps all.
        test_subset: Keep this many random test images; None keeps all.
        root: Writable dataset root; default :func:`dataset_root`.
        download: Allow downloads.

    Returns:
        The :class:`Splits`.
    """
    info = dataset_info(name)
    if pixel_mean is None:
        pixel_mean = info.pixel_mean
    x_tr, y_tr = load_arrays(name, True, root=root, download=download)
    x_te, y_te = load_arrays(name, False, root=root, download=download)

    mean = pixel_mean_of(x_tr) if pixel_mean else None

    x_tr, y_tr, x_te, y_te = take_subsets(x_tr, y_tr, x_te, y_te, train_subset, test_subset, seed)

    train_idx, val_idx = validation_indices(len(x_tr), val_fraction, seed)
    x_train, x_val = _to_tensor(x_tr[train_idx]), _to_tensor(x_tr[val_idx])
    x_test = _to_tensor(x_te)
    if mean is not None:
        for x in (x_train, x_val, x_test):
            x.sub_(mean)
    return Splits(
        x_train=x_train,
        y_train=torch.from_numpy(y_tr[train_idx]),
        x_val=x_val,
        y_val=torch.from_numpy(y_tr[val_idx]),
        x_test=x_test,
        y_test=torch.from_numpy(np.ascontiguousarray(y_te)),
        mean=mean,
        info=info,
    )
