"""The thesis' toy set of 2-D cosines (thesis §3.2.2; ``shared/reference/experiments.md`` §9).

Each image is one 2-D cosine, 32 x 32, one channel, values in [0, 1]::

    x[v, u] = 0.5 + 0.5 a cos(2 pi f (u cos(theta) + v sin(theta)) / 32 + phi)

with pixel coordinates ``u`` (column) and ``v`` (row) in 0..31. Class ``k`` has the frequency
``f = TOY_FREQUENCIES[k]`` in (0, 1, 2, 4, 8) cycles per image along the direction ``theta``.
The other factors are those the thesis names: 10 rotations equidistant in the open interval
(0, 2 pi), ``theta_k = 2 pi k / 11`` for k = 1..10; 10 phases in [0, 2 pi),
``phi_k = 2 pi k / 10`` for k = 0..9; 10 amplitudes in (0, 1], ``a_k = k / 10`` for k = 1..10.

Our reading, not stated in the thesis: the three factors are crossed, so every class has
10 x 10 x 10 = 1,000 images and the set 5,000. No original generator exists (the original
code only names a dataset ``TOY`` of size 32 x 32 with a stratified validation split).

Class 0 (f = 0) is constant images ``0.5 + 0.5 a cos(phi)``: the rotation has no effect on
it, so every constant appears at least 10 times. Since ``cos(phi_k) = cos(phi_{10-k})``, the
100 (amplitude, phase) pairs give only 60 distinct constants (10 amplitudes x 6 cosines).
For f > 0 the 1,000 images of a class are distinct; a cosine whose direction is not along an
axis is not periodic on the 32-pixel grid, so its spectrum leaks around radius f.

The official split (:func:`toy_cosines_split`) is stratified and fixed (seed
:data:`TOY_SPLIT_SEED`): 200 test images per class (1,000), 800 per class for training
(4,000), the same test set in every repeat. :func:`tdlib.data.load_arrays` gives its parts as
uint8 ``(N, 32, 32, 1)`` like the other datasets (values rounded to the nearest of 256 grey
levels).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "TOY_AMPLITUDES",
    "TOY_FREQUENCIES",
    "TOY_PHASES",
    "TOY_ROTATIONS",
    "TOY_SIZE",
    "TOY_SPLIT_SEED",
    "TOY_TEST_PER_CLASS",
    "toy_cosines",
    "toy_cosines_arrays",
    "toy_cosines_split",
]

#: Frequency of class k, in cycles per image.
TOY_FREQUENCIES: tuple[int, ...] = (0, 1, 2, 4, 8)
#: Image side in pixels.
TOY_SIZE = 32
#: Rotations theta_k = 2 pi k / 11, k = 1..10 (10 values equidistant in the open (0, 2 pi)).
TOY_ROTATIONS: tuple[float, ...] = tuple(2 * math.pi * k / 11 for k in range(1, 11))
#: Phases phi_k = 2 pi k / 10, k = 0..9 (10 values in [0, 2 pi)).
TOY_PHASES: tuple[float, ...] = tuple(2 * math.pi * k / 10 for k in range(10))
#: Amplitudes a_k = k / 10, k = 1..10 (10 values in (0, 1]).
TOY_AMPLITUDES: tuple[float, ...] = tuple(k / 10 for k in range(1, 11))
#: Seed of the stratified train/test split (fixed: the same test set for every repeat).
TOY_SPLIT_SEED = 0
#: Test images per class (1,000 of the 5,000).
TOY_TEST_PER_CLASS = 200


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray]:
    n = TOY_SIZE
    v, u = np.mgrid[0:n, 0:n].astype(np.float64)
    theta = np.asarray(TOY_ROTATIONS)[:, None, None, None, None]
    phi = np.asarray(TOY_PHASES)[None, :, None, None, None]
    amp = np.asarray(TOY_AMPLITUDES)[None, None, :, None, None]
    images, labels = [], []
    for k, f in enumerate(TOY_FREQUENCIES):
        arg = 2 * math.pi * f * (u * np.cos(theta) + v * np.sin(theta)) / n + phi
        x = 0.5 + 0.5 * amp * np.cos(arg)  # (rotations, phases, amplitudes, 32, 32)
        images.append(x.reshape(-1, 1, n, n))
        labels.append(np.full(len(images[-1]), k, dtype=np.int64))
    x = np.clip(np.concatenate(images), 0.0, 1.0).astype(np.float32)
    y = np.concatenate(labels)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def toy_cosines() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 toy images, class by class; within a class rotation-major, then phase, then amplitude.

    Returns:
        Images float32 ``(5000, 1, 32, 32)`` in [0, 1] and labels int64 ``(5000,)`` in 0..4
        (fresh, writable copies).
    """
    x, y = _generate()
    return x.copy(), y.copy()


def toy_cosines_split() -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified train/test split of :func:`toy_cosines` (seed :data:`TOY_SPLIT_SEED`).

    Returns:
        ``(train_idx, test_idx)``: sorted int64 indices into :func:`toy_cosines`, 4,000 and
        1,000 (800 and :data:`TOY_TEST_PER_CLASS` = 200 per class), disjoint, covering all.
    """
    _, y = _generate()
    rng = np.random.default_rng(TOY_SPLIT_SEED)
    test = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == k), size=TOY_TEST_PER_CLASS, replace=False)
                                   for k in range(len(TOY_FREQUENCIES))])).astype(np.int64)
    keep = np.ones(len(y), dtype=bool)
    keep[test] = False
    return np.flatnonzero(keep).astype(np.int64), test


def toy_cosines_arrays(train: bool) -> tuple[np.ndarray, np.ndarray]:
    """One part of the official split as :func:`tdlib.data.load_arrays` returns datasets.

    Args:
        train: The 4,000 training images if True, else the 1,000 test images.

    Returns:
        Images uint8 ``(N, 32, 32, 1)`` (``round(255 x)``) and labels int64 ``(N,)``, in the
        order of :func:`toy_cosines`.
    """
    x, y = _generate()
    idx = toy_cosines_split()[0 if train else 1]
    u8 = np.rint(x[idx] * 255.0).astype(np.uint8)
    return np.ascontiguousarray(u8.transpose(0, 2, 3, 1)), y[idx].copy()
