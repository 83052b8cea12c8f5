"""From arrays to tensors: [0, 1] floats, an optional blur or Fourier filter, the per-pixel training mean, subsets,
the val split."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from ..pyramid import blur, fourier_filter
from .sources import DatasetInfo, dataset_info, load_arrays

#: Fourier filters of the training data (thesis §3.2.3): ``none``, or the ideal ``lowpass`` / ``highpass``
#: of :func:`tdlib.pyramid.fourier_lowpass` / :func:`tdlib.pyramid.fourier_highpass`.
FOURIER_FILTERS = ("none", "lowpass", "highpass")

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


def _check_labels(labels: np.ndarray | Tensor) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array (N,), got {y.dtype} {y.shape}")
    return y


def _allocate(counts: np.ndarray, k: int) -> np.ndarray:
    """Split ``k`` over classes of sizes ``counts`` in proportion (largest remainder; ties: lower class)."""
    quota = k * counts / counts.sum()
    alloc = np.floor(quota).astype(np.int64)
    rest = k - int(alloc.sum())
    order = np.argsort(-(quota - alloc), kind="stable")
    alloc[order[:rest]] += 1
    return np.minimum(alloc, counts)


def stratified_validation_indices(
    labels: np.ndarray | Tensor, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random train/val split (the original's split for its toy set).

    The val set has ``ceil(fraction * N)`` indices, as :func:`validation_indices`, shared
    among the classes in proportion to their sizes (largest remainder), so each class
    gives ``fraction`` of its images up to rounding; within a class they are drawn without
    replacement. Both parts are shuffled by the same generator.

    Args:
        labels: Class labels, integer ``(N,)``.
        fraction: Validation fraction in [0, 1).
        seed: Seed of ``np.random.default_rng``.

    Returns:
        ``(train_idx, val_idx)``, int64 arrays that are disjoint and cover ``range(N)``.
    """
    y = _check_labels(labels)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    n = len(y)
    classes, counts = np.unique(y, return_counts=True)
    n_val = min(math.ceil(fraction * n - 1e-9), n)
    rng = np.random.default_rng(seed)
    parts = [rng.choice(np.flatnonzero(y == c), size=int(k), replace=False)
             for c, k in zip(classes, _allocate(counts, n_val), strict=True)]
    val = rng.permutation(np.concatenate(parts) if parts else np.zeros(0, np.int64)).astype(np.int64)
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
        mean: float32 ``(C, H, W)`` per-pixel mean of all training images (blurred
            with ``blur_sigma``, Fourier-filtered as ``fourier``) that was subtracted
            everywhere, or None.
        info: The dataset's registry entry.
        blur_sigma: Gaussian sigma every image was blurred with (0: none).
        fourier: Fourier filter of the training and validation images (``none``,
            ``lowpass``, ``highpass``); the test images are not filtered.
        fourier_radius: Its radius in cycles per image (0 with ``none``).
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: Tensor | None
    info: DatasetInfo
    blur_sigma: float = 0.0
    fourier: str = "none"
    fourier_radius: float = 0.0


def _to_tensor(x: np.ndarray) -> Tensor:
    """uint8 ``(N, H, W, C)`` -> contiguous float32 ``(N, C, H, W)`` in [0, 1]."""
    chw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return chw.to(torch.float32).div_(255.0)


def take_subsets(x_tr: ArrayT, y_tr: ArrayT, x_te: ArrayT, y_te: ArrayT, train_subset: int | None,
                 test_subset: int | None, seed: int, stratify: bool = False) -> tuple[ArrayT, ArrayT, ArrayT, ArrayT]:
    """Keep seeded random subsets of the training and test sets (None: all), in their original order.

    With ``stratify`` each subset takes from every class in proportion to its size (largest
    remainder); the labels ``y_tr`` and ``y_te`` must then be integer ``(N,)``.
    """
    keep = _subset(len(x_tr), train_subset, seed, 1, "train_subset", y_tr if stratify else None)
    if keep is not None:
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    keep = _subset(len(x_te), test_subset, seed, 2, "test_subset", y_te if stratify else None)
    if keep is not None:
        x_te, y_te = x_te[keep], y_te[keep]
    return x_tr, y_tr, x_te, y_te


def _subset(n: int, k: int | None, seed: int, stream: int, what: str,
            labels: np.ndarray | Tensor | None = None) -> np.ndarray | None:
    """Sorted random subset of ``k`` of ``n`` indices (per class in proportion if ``labels``), or None for all."""
    if k is None:
        return None
    if not 1 <= k <= n:
        raise ValueError(f"{what} must be in [1, {n}], got {k}")
    rng = np.random.default_rng([seed, stream])
    if labels is None:
        return np.sort(rng.choice(n, size=k, replace=False))
    y = _check_labels(labels)
    classes, counts = np.unique(y, return_counts=True)
    parts = [rng.choice(np.flatnonzero(y == c), size=int(m), replace=False)
             for c, m in zip(classes, _allocate(counts, k), strict=True)]
    return np.sort(np.concatenate(parts)).astype(np.int64)


#: Per-pixel means (float64) already computed in this process, by a fingerprint of the training images.
_MEANS: dict[tuple[tuple[int, ...], bytes], Tensor] = {}

#: Images per blur call of :func:`blur_images` (bounds the temporary memory).
BLUR_CHUNK = 1024


def pixel_mean_of(x_train: np.ndarray, blur_sigma: float = 0.0, fourier: str = "none",
                  fourier_radius: float = 0.0) -> Tensor:
    """Per-pixel, per-channel mean of uint8 training images ``(N, H, W, C)``, as float32 ``(C, H, W)`` in [0, 1].

    float64 accumulation over every image, as the original. Computed once per process for
    the same images (a grid of runs on CIFAR-10 asks for it once per run; it takes seconds
    on 50,000 images): the cache key is the array's shape and a hash of its bytes'
    first, middle and last image, so other arrays (a test's stand-in) never share a mean.

    With ``blur_sigma > 0`` it is the mean of the blurred images (:func:`tdlib.pyramid.blur`,
    zero padding). The blur is linear and the same for every image, so that mean is the
    blurred mean image, which is how it is computed (in float64): equal up to rounding, and
    no need to blur every training image. The same holds for a Fourier filter (``fourier``
    ``lowpass`` or ``highpass`` at ``fourier_radius`` cycles per image, see
    :func:`fourier_filter_images`): the mean of the filtered images is the filtered mean.
    """
    import hashlib

    n = len(x_train)
    probe = b"".join(x_train[i].tobytes() for i in sorted({0, n // 2, n - 1}) if n)
    key = (tuple(x_train.shape), hashlib.sha1(probe).digest())
    if key not in _MEANS:
        mean_hwc = x_train.mean(axis=0, dtype=np.float64) / 255.0
        _MEANS[key] = torch.from_numpy(np.ascontiguousarray(mean_hwc.transpose(2, 0, 1)))
    mean = _MEANS[key]
    if blur_sigma:
        mean = blur(mean[None], blur_sigma, "zeros")[0]
    _check_fourier(fourier, fourier_radius)
    if fourier != "none":
        mean = fourier_filter(mean[None], fourier, fourier_radius)[0]
    return mean.float()


def _check_blur_sigma(sigma: float) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"blur_sigma must be a finite number >= 0 (0: no blur), got {sigma!r}")


def blur_images(x: Tensor, sigma: float) -> Tensor:
    """Blur float images in place with :func:`tdlib.pyramid.blur` (zero padding), :data:`BLUR_CHUNK` at a time.

    Args:
        x: Images ``(N, C, H, W)``, floating point; overwritten.
        sigma: Gaussian sigma in pixels (>= 0; 0 leaves ``x`` as it is).

    Returns:
        ``x``.
    """
    _check_blur_sigma(sigma)
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x must be floating-point images (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if sigma:
        for i in range(0, x.shape[0], BLUR_CHUNK):
            x[i : i + BLUR_CHUNK] = blur(x[i : i + BLUR_CHUNK], sigma, "zeros")
    return x


def _check_fourier(kind: str, radius: float) -> None:
    if kind not in FOURIER_FILTERS:
        raise ValueError(f"unknown Fourier filter {kind!r}; expected one of {', '.join(FOURIER_FILTERS)}")
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not math.isfinite(radius):
        raise ValueError(f"fourier_radius must be a finite number (cycles per image), got {radius!r}")
    if kind == "none" and radius != 0:
        raise ValueError(f"fourier_radius must be 0 without a Fourier filter (fourier='none'), got {radius!r}")
    if kind != "none" and not radius > 0:
        raise ValueError(f"fourier={kind!r} needs fourier_radius > 0 (cycles per image), got {radius!r}")


def fourier_filter_images(x: Tensor, kind: str, radius: float) -> Tensor:
    """Fourier-filter float images in place, :data:`BLUR_CHUNK` at a time (thesis §3.2.3, Eq. 3.1).

    ``lowpass`` keeps the DFT bins with ``u**2 + v**2 <= radius**2`` (u, v in cycles per image,
    :func:`tdlib.pyramid.fourier_lowpass`), ``highpass`` the others
    (:func:`tdlib.pyramid.fourier_highpass`).

    Args:
        x: Images ``(N, C, H, W)``, floating point; overwritten.
        kind: One of :data:`FOURIER_FILTERS` (``none`` leaves ``x`` as it is).
        radius: Cut-off in cycles per image (> 0; 0 with ``none``).

    Returns:
        ``x``.
    """
    _check_fourier(kind, radius)
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x must be floating-point images (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if kind != "none":
        for i in range(0, x.shape[0], BLUR_CHUNK):
            x[i : i + BLUR_CHUNK] = fourier_filter(x[i : i + BLUR_CHUNK], kind, radius)
    return x


def _prepare(x: np.ndarray, blur_sigma: float, mean: Tensor | None, fourier: str = "none",
             fourier_radius: float = 0.0) -> Tensor:
    """uint8 ``(N, H, W, C)`` -> float32 ``(N, C, H, W)``: / 255, blurred, Fourier-filtered, minus ``mean``."""
    t = fourier_filter_images(blur_images(_to_tensor(x), blur_sigma), fourier, fourier_radius)
    return t.sub_(mean) if mean is not None else t


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
    blur_sigma: float = 0.0,
    fourier: str = "none",
    fourier_radius: float = 0.0,
) -> Splits:
    """Loads a dataset and prepares it as in the original ``preprocessing``.

    Steps: uint8 / 255; optional Gaussian blur of every image (the thesis downscale
    study) or Fourier filter of the training and validation images (the thesis' Fourier
    study: the test images stay original); per-pixel, per-channel mean over ALL official
    training images, blurred or filtered alike (if ``pixel_mean``), subtracted from train,
    val and test (no std division); optional
    random subsets; random val split of the training pool. Datasets whose registry entry
    has ``stratified_val`` (``toy_cosines``) get a stratified val split and stratified
    subsets.

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
        blur_sigma: Blur every [0, 1] image (train, val and test) with this Gaussian
            sigma in pixels, zero padding, radius ``ceil(3 sigma)``
            (:func:`tdlib.pyramid.blur`), before the mean subtraction; 0: no blur.
            The mean is that of all blurred official training images (see
            :func:`pixel_mean_of`).
        fourier: ``none``, ``lowpass`` or ``highpass``: filter the [0, 1] training and
            validation images in the Fourier domain (:func:`fourier_filter_images`) before
            the mean subtraction, the mean being that of all filtered official training
            images. The test images are NOT filtered (the thesis trains on filtered data
            and tests on the original test set); they lose the same mean. Not combined
            with ``blur_sigma``.
        fourier_radius: The filter's radius in cycles per image (> 0 with a filter, else 0).

    Returns:
        The :class:`Splits`.
    """
    info = dataset_info(name)
    _check_blur_sigma(blur_sigma)
    blur_sigma = float(blur_sigma)
    _check_fourier(fourier, fourier_radius)
    fourier_radius = float(fourier_radius)
    if blur_sigma and fourier != "none":
        raise ValueError("blur_sigma and a Fourier filter cannot be combined; choose one")
    if pixel_mean is None:
        pixel_mean = info.pixel_mean
    x_tr, y_tr = load_arrays(name, True, root=root, download=download)
    x_te, y_te = load_arrays(name, False, root=root, download=download)

    mean = pixel_mean_of(x_tr, blur_sigma, fourier, fourier_radius) if pixel_mean else None

    stratify = info.stratified_val
    x_tr, y_tr, x_te, y_te = take_subsets(x_tr, y_tr, x_te, y_te, train_subset, test_subset, seed, stratify)

    if stratify:
        train_idx, val_idx = stratified_validation_indices(y_tr, val_fraction, seed)
    else:
        train_idx, val_idx = validation_indices(len(x_tr), val_fraction, seed)
    return Splits(
        x_train=_prepare(x_tr[train_idx], blur_sigma, mean, fourier, fourier_radius),
        y_train=torch.from_numpy(y_tr[train_idx]),
        x_val=_prepare(x_tr[val_idx], blur_sigma, mean, fourier, fourier_radius),
        y_val=torch.from_numpy(y_tr[val_idx]),
        x_test=_prepare(x_te, blur_sigma, mean),
        y_test=torch.from_numpy(np.ascontiguousarray(y_te)),
        mean=mean,
        info=info,
        blur_sigma=blur_sigma,
        fourier=fourier,
        fourier_radius=fourier_radius,
    )
