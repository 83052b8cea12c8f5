"""tdlib.data.toy: the thesis' toy 2-D cosine set, its fixed split and its stratified validation split."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tdlib.data import DATASETS, TOY_FREQUENCIES, load_arrays, load_splits, toy_cosines, toy_cosines_split
from tdlib.data.toy import TOY_AMPLITUDES, TOY_PHASES, TOY_ROTATIONS


@pytest.fixture(scope="module")
def toy():
    return toy_cosines()


def _mean_radius(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image ``(N, 32, 32)``: the energy-weighted mean radius (cycles per image) of the
    non-DC spectrum after removing the mean and applying a 2-D Hann window (which keeps the
    leakage of off-axis cosines from pulling the mean up), and the non-DC energy."""
    n = x.shape[-1]
    window = np.outer(np.hanning(n), np.hanning(n))
    centred = (x - x.mean((-2, -1), keepdims=True)) * window
    power = np.abs(np.fft.fft2(centred)) ** 2
    k = np.fft.fftfreq(n) * n
    radius = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    energy = power.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_radius = (power * radius).sum((-2, -1)) / energy
    return mean_radius, energy


def _dominant_class(x: np.ndarray) -> np.ndarray:
    """The class whose frequency is nearest each image's mean radius; 0 for images without non-DC energy."""
    mean_radius, energy = _mean_radius(x)
    freqs = np.asarray(TOY_FREQUENCIES[1:], dtype=np.float64)
    nearest = 1 + np.abs(mean_radius[:, None] - freqs[None, :]).argmin(1)
    return np.where(energy < 1e-12, 0, nearest)


def test_shapes_values_and_counts(toy):
    x, y = toy
    assert x.shape == (5000, 1, 32, 32) and x.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1
    assert np.bincount(y).tolist() == [1000] * 5
    assert TOY_FREQUENCIES == (0, 1, 2, 4, 8)
    assert len(TOY_ROTATIONS) == len(TOY_PHASES) == len(TOY_AMPLITUDES) == 10
    assert all(0 < t < 2 * math.pi for t in TOY_ROTATIONS) and TOY_PHASES[0] == 0 and TOY_AMPLITUDES[-1] == 1
    # Images are writable copies: changing one does not change the next call's.
    fresh = toy_cosines()[0]
    fresh[0] = 0
    assert toy_cosines()[0][0].max() > 0


def test_image_formula(toy):
    x, y = toy
    # Class 3 (f = 4), rotation index 2, phase index 7, amplitude index 4 (class-major, then
    # rotation, phase, amplitude).
    i = 3 * 1000 + 2 * 100 + 7 * 10 + 4
    theta, phi, a = 2 * math.pi * 3 / 11, 2 * math.pi * 7 / 10, 0.5
    v, u = np.mgrid[0:32, 0:32]
    ref = 0.5 + 0.5 * a * np.cos(2 * math.pi * 4 * (u * math.cos(theta) + v * math.sin(theta)) / 32 + phi)
    assert y[i] == 3
    np.testing.assert_allclose(x[i, 0], ref, atol=1e-6)


def test_class_zero_is_constant(toy):
    x, y = toy
    zero = x[y == 0].reshape(1000, -1)
    assert (zero.max(1) == zero.min(1)).all()
    # cos(phi_k) = cos(phi_{10-k}): 10 amplitudes x 6 cosines, each constant 10 or 20 times.
    assert len(np.unique(zero[:, 0])) == 60
    for k in (1, 2, 3, 4):
        assert len(np.unique(x[y == k].reshape(1000, -1), axis=0)) == 1000


def test_every_image_has_its_class_frequency(toy):
    x, y = toy
    dominant = _dominant_class(x[:, 0].astype(np.float64))
    np.testing.assert_array_equal(dominant, y)
    # The criterion separates the classes: swapping two labels is caught.
    wrong = y.copy()
    wrong[(y == 1) | (y == 2)] = 3 - wrong[(y == 1) | (y == 2)]
    assert (dominant != wrong).sum() == 2000
    # Also after rounding to 8 bits, as load_arrays serves them.
    for train in (True, False):
        xu, yu = load_arrays("toy_cosines", train)
        np.testing.assert_array_equal(_dominant_class(xu[..., 0] / 255.0), yu)


def test_official_split_is_stratified_and_fixed(toy):
    x, y = toy
    train_idx, test_idx = toy_cosines_split()
    assert len(train_idx) == 4000 and len(test_idx) == 1000
    assert np.intersect1d(train_idx, test_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(5000))
    assert np.bincount(y[test_idx]).tolist() == [200] * 5
    assert np.bincount(y[train_idx]).tolist() == [800] * 5
    again = toy_cosines_split()
    np.testing.assert_array_equal(again[1], test_idx)
    for train, idx in ((True, train_idx), (False, test_idx)):
        xu, yu = load_arrays("toy_cosines", train, download=False)
        assert xu.shape == (len(idx), 32, 32, 1) and xu.dtype == np.uint8
        np.testing.assert_array_equal(yu, y[idx])
        np.testing.assert_array_equal(xu[..., 0], np.rint(x[idx, 0] * 255).astype(np.uint8))


def test_load_splits_validation_is_stratified_and_seeded():
    info = DATASETS["toy_cosines"]
    a = load_splits("toy_cosines", seed=0)
    assert a.mean is None and a.info is info
    assert a.x_train.shape == (3600, 1, 32, 32) and a.x_val.shape == (400, 1, 32, 32)
    assert a.x_test.shape == (1000, 1, 32, 32) and a.x_train.dtype == torch.float32
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    pool = np.bincount(np.concatenate([a.y_train.numpy(), a.y_val.numpy()]), minlength=5)
    for counts in (np.bincount(a.y_val.numpy(), minlength=5),
                   np.bincount(load_splits("toy_cosines", seed=0, val_fraction=0.13).y_val.numpy(), minlength=5)):
        frac = counts.sum() / pool.sum()
        assert (np.abs(counts - frac * pool) <= 1).all(), counts
    assert np.bincount(a.y_test.numpy()).tolist() == [200] * 5

    same = load_splits("toy_cosines", seed=0)
    assert torch.equal(a.x_val, same.x_val) and torch.equal(a.y_train, same.y_train)
    other = load_splits("toy_cosines", seed=1)
    assert not torch.equal(a.x_val, other.x_val)
    assert np.bincount(other.y_val.numpy()).tolist() == [80] * 5
    # The test set is fixed: the same images for every repeat.
    assert torch.equal(a.x_test, other.x_test) and torch.equal(a.y_test, other.y_test)


def test_subsets_are_stratified():
    s = load_splits("toy_cosines", seed=2, train_subset=200, test_subset=100)
    assert np.bincount(s.y_test.numpy()).tolist() == [20] * 5
    assert np.bincount(np.concatenate([s.y_train.numpy(), s.y_val.numpy()])).tolist() == [40] * 5
    assert np.bincount(s.y_val.numpy()).tolist() == [4] * 5
    t = load_splits("toy_cosines", seed=3, train_subset=200, test_subset=100)
    assert not torch.equal(s.x_test, t.x_test)
