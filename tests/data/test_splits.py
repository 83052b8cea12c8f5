"""tdlib.data.splits: validation split, tensors, pixel mean, subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tdlib.data import (
    DATASETS,
    load_splits,
    validation_indices,
)


@pytest.mark.parametrize("n", [60000, 50000, 1001, 70, 10, 1])
def test_validation_indices(n):
    train, val = validation_indices(n, 0.1, seed=3)
    assert len(val) == math.ceil(round(0.1 * n, 9))
    assert len(train) + len(val) == n
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    train2, val2 = validation_indices(n, 0.1, seed=3)
    np.testing.assert_array_equal(train, train2)
    np.testing.assert_array_equal(val, val2)
    if n >= 70:
        _, val3 = validation_indices(n, 0.1, seed=4)
        assert not np.array_equal(np.sort(val), np.sort(val3))
        assert not np.array_equal(train, np.sort(train))  # the train order is shuffled


def test_validation_indices_edge_cases():
    train, val = validation_indices(100, 0.0, seed=0)
    assert len(val) == 0 and sorted(train.tolist()) == list(range(100))
    with pytest.raises(ValueError):
        validation_indices(100, 1.0, seed=0)


def test_load_splits_cifar10(cifar, cifar_splits):
    s = cifar_splits
    (x, y), (xt, yt) = cifar["train"], cifar["test"]
    assert s.info is DATASETS["cifar10"]
    assert s.mean is not None and s.mean.shape == (3, 32, 32) and s.mean.dtype == torch.float32
    assert s.x_train.shape == (45000, 3, 32, 32) and s.x_val.shape == (5000, 3, 32, 32)
    assert s.x_test.shape == (10000, 3, 32, 32)
    assert s.x_train.dtype == torch.float32 and s.x_train.is_contiguous()
    assert s.y_train.dtype == torch.int64 and s.y_train.shape == (45000,)

    # The mean is over all 50,000 training images, before the split.
    ref_mean = x.mean(axis=0, dtype=np.float64).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(s.mean.numpy(), ref_mean, atol=1e-6)
    total = torch.zeros(3, 32, 32, dtype=torch.float64)
    for part in (s.x_train, s.x_val):
        for chunk in part.split(5000):
            total += chunk.sum(0, dtype=torch.float64)
    assert (total / 50000).abs().max().item() < 1e-5

    # Rows are the official images of validation_indices(50000, 0.1, seed=0), minus the mean.
    train_idx, val_idx = validation_indices(50000, 0.1, seed=0)
    np.testing.assert_array_equal(s.y_train.numpy(), y[train_idx])
    np.testing.assert_array_equal(s.y_val.numpy(), y[val_idx])
    for k in (0, 1, 44999):
        ref = x[train_idx[k]].transpose(2, 0, 1) / 255
        np.testing.assert_allclose((s.x_train[k] + s.mean).numpy(), ref, atol=1e-6)
    ref = x[val_idx[7]].transpose(2, 0, 1) / 255
    np.testing.assert_allclose((s.x_val[7] + s.mean).numpy(), ref, atol=1e-6)
    # Test: same (training) mean subtracted, official order.
    np.testing.assert_array_equal(s.y_test.numpy(), yt)
    ref_t = torch.from_numpy(xt[:2000].transpose(0, 3, 1, 2) / 255).float()
    torch.testing.assert_close(s.x_test[:2000] + s.mean, ref_t, atol=1e-6, rtol=0)


def test_load_splits_mnist(mnist_like):
    name = mnist_like["name"]
    s = load_splits(name, seed=1, root=mnist_like["root"], download=False)
    assert s.mean is None
    assert s.x_train.shape == (54000, 1, 28, 28) and s.x_val.shape == (6000, 1, 28, 28)
    assert s.x_test.shape == (10000, 1, 28, 28)
    for t in (s.x_train, s.x_val, s.x_test):
        assert t.dtype == torch.float32 and t.min() >= 0 and t.max() <= 1
    assert s.x_train.max() == 1 and s.x_test.min() == 0
    train_idx, val_idx = validation_indices(60000, 0.1, seed=1)
    x, y = mnist_like["train"]
    np.testing.assert_array_equal(s.y_val.numpy(), y[val_idx])
    np.testing.assert_allclose(s.x_train[5, 0].numpy(), x[train_idx[5], :, :, 0] / 255, atol=1e-7)


def test_load_splits_subsets_keep_full_mean(fake_cifar_loader, cifar_splits):
    s = load_splits("cifar10", seed=5, train_subset=1000, test_subset=200)
    assert s.x_train.shape[0] == 900 and s.x_val.shape[0] == 100 and s.x_test.shape[0] == 200
    torch.testing.assert_close(s.mean, cifar_splits.mean, atol=0, rtol=0)
    # The subset's own mean is not zero: the full-set mean was subtracted.
    assert torch.cat([s.x_train, s.x_val]).mean(0).abs().max() > 1e-3
    again = load_splits("cifar10", seed=5, train_subset=1000, test_subset=200)
    torch.testing.assert_close(s.x_train, again.x_train, atol=0, rtol=0)
    other = load_splits("cifar10", seed=6, train_subset=1000, test_subset=200)
    assert not torch.equal(s.y_test, other.y_test)
    with pytest.raises(ValueError):
        load_splits("cifar10", train_subset=50001)


def test_load_splits_options(fake_cifar_loader):
    s = load_splits("cifar10", val_fraction=0.0, pixel_mean=False, train_subset=300, test_subset=10)
    assert s.mean is None
    assert s.x_val.shape == (0, 3, 32, 32) and s.x_val.dtype == torch.float32
    assert s.y_val.shape == (0,) and s.y_val.dtype == torch.int64
    assert s.x_train.shape == (300, 3, 32, 32) and s.x_train.min() >= 0




def test_pixel_mean_is_computed_once_per_process():
    from tdlib.data import splits

    x = np.random.default_rng(0).integers(0, 256, size=(50, 4, 4, 3), dtype=np.uint8)
    before = len(splits._MEANS)
    first = splits.pixel_mean_of(x)
    expected = torch.from_numpy(x.mean(0, dtype=np.float64).transpose(2, 0, 1) / 255).float()
    torch.testing.assert_close(first, expected, atol=0, rtol=0)
    first.zero_()  # a caller changing its copy does not change the cache
    again = splits.pixel_mean_of(x.copy())  # the same images: served from the cache
    assert len(splits._MEANS) == before + 1
    torch.testing.assert_close(again, expected, atol=0, rtol=0)
    y = x.copy()
    y[25] = 255 - y[25]  # other images (the middle one differs): their own mean
    assert not torch.equal(splits.pixel_mean_of(y), expected) and len(splits._MEANS) == before + 2


# ---------------------------------------------------------------------------------------------
# Stratified split, stratified subsets, blur
# ---------------------------------------------------------------------------------------------


def test_stratified_validation_indices():
    from tdlib.data import stratified_validation_indices

    y = np.repeat(np.arange(4), [500, 300, 150, 51])  # unbalanced, N = 1001
    rng = np.random.default_rng(0)
    y = y[rng.permutation(len(y))]
    train, val = stratified_validation_indices(y, 0.1, seed=3)
    assert len(val) == math.ceil(round(0.1 * len(y), 9)) == 101
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(len(y)))
    counts = np.bincount(y[val], minlength=4)
    assert (np.abs(counts - 0.1 * np.bincount(y)) <= 1).all(), counts
    assert train.dtype == val.dtype == np.int64
    again = stratified_validation_indices(torch.from_numpy(y), 0.1, seed=3)
    np.testing.assert_array_equal(again[0], train)
    np.testing.assert_array_equal(again[1], val)
    other = stratified_validation_indices(y, 0.1, seed=4)[1]
    assert not np.array_equal(np.sort(val), np.sort(other))
    assert len(stratified_validation_indices(y, 0.0, seed=0)[1]) == 0
    with pytest.raises(ValueError, match="fraction"):
        stratified_validation_indices(y, 1.0, seed=0)
    with pytest.raises(ValueError, match="labels"):
        stratified_validation_indices(np.zeros((3, 2), dtype=np.int64), 0.1, seed=0)


def _fake_dataset(monkeypatch, n_train=120, n_test=40):
    """Random uint8 'cifar10' stand-ins (pixel mean on), returned by a patched load_arrays."""
    from tdlib.data import splits

    rng = np.random.default_rng(7)
    arrays = {True: (rng.integers(0, 256, (n_train, 8, 8, 3), dtype=np.uint8), rng.integers(0, 10, n_train)),
              False: (rng.integers(0, 256, (n_test, 8, 8, 3), dtype=np.uint8), rng.integers(0, 10, n_test))}
    monkeypatch.setattr(splits, "load_arrays", lambda name, train, **kw: arrays[train])
    return arrays


def _blurred(x: np.ndarray, sigma: float) -> torch.Tensor:
    from tdlib.pyramid import blur

    t = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float64) / 255)
    return blur(t, sigma, "zeros")


def test_pixel_mean_of_blurred_images_is_the_blurred_mean():
    from tdlib.data import splits

    x = np.random.default_rng(1).integers(0, 256, size=(64, 8, 8, 3), dtype=np.uint8)
    for sigma in (0.6, 1.2):
        ref = _blurred(x, sigma).mean(0)
        torch.testing.assert_close(splits.pixel_mean_of(x, sigma), ref.float(), atol=1e-6, rtol=0)
    assert torch.equal(splits.pixel_mean_of(x, 0.0), splits.pixel_mean_of(x))


def test_load_splits_blurs_every_image_before_the_mean(monkeypatch):
    arrays = _fake_dataset(monkeypatch)
    sigma = 1.2
    s = load_splits("cifar10", seed=1, train_subset=60, test_subset=20, blur_sigma=sigma)
    plain = load_splits("cifar10", seed=1, train_subset=60, test_subset=20)
    assert s.blur_sigma == sigma and plain.blur_sigma == 0.0
    # The mean is that of ALL official training images, blurred (not of the subset).
    x_tr, x_te = arrays[True][0], arrays[False][0]
    torch.testing.assert_close(s.mean, _blurred(x_tr, sigma).mean(0).float(), atol=1e-6, rtol=0)
    # Same images and labels as without blur, each one blurred.
    assert torch.equal(s.y_train, plain.y_train) and torch.equal(s.y_test, plain.y_test)
    for blurred, unblurred in ((s.x_train, plain.x_train), (s.x_val, plain.x_val), (s.x_test, plain.x_test)):
        ref = _blurred(((unblurred + plain.mean).numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8),
                       sigma)
        torch.testing.assert_close(blurred + s.mean, ref.float(), atol=1e-5, rtol=0)
    assert not torch.allclose(s.x_test + s.mean, plain.x_test + plain.mean, atol=1e-2)
    full = load_splits("cifar10", seed=1, val_fraction=0.0, test_subset=None, blur_sigma=sigma)
    torch.testing.assert_close(full.x_test + full.mean, _blurred(x_te, sigma).float(), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="blur_sigma"):
        load_splits("cifar10", blur_sigma=-1.0)


def test_blur_images_in_chunks(monkeypatch):
    from tdlib.data import blur_images, splits
    from tdlib.pyramid import gaussian_blur

    monkeypatch.setattr(splits, "BLUR_CHUNK", 7)
    x = torch.rand(30, 2, 9, 9, generator=torch.Generator().manual_seed(0))
    ref = gaussian_blur(x, 0.6, "zeros")
    out = blur_images(x, 0.6)
    assert out is x
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    y = torch.rand(3, 1, 4, 4)
    assert torch.equal(blur_images(y.clone(), 0.0), y)
    assert blur_images(torch.zeros(0, 1, 4, 4), 1.0).shape == (0, 1, 4, 4)
    with pytest.raises(ValueError, match="blur_sigma"):
        blur_images(y, -0.5)
    with pytest.raises(ValueError, match="floating-point"):
        blur_images(torch.zeros(2, 4, 4), 1.0)


# ---------------------------------------------------------------------------------------------
# Fourier filter of the training data (thesis §3.2.3)
# ---------------------------------------------------------------------------------------------


def _filtered(x: np.ndarray, kind: str, radius: float) -> torch.Tensor:
    from tdlib.pyramid import fourier_filter

    t = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float64) / 255)
    return fourier_filter(t, kind, radius)


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_load_splits_fourier_filters_train_and_val_not_test(monkeypatch, kind):
    from tdlib.data import splits

    arrays = _fake_dataset(monkeypatch)
    radius = 2.5
    s = load_splits("cifar10", seed=1, train_subset=60, test_subset=20, fourier=kind, fourier_radius=radius)
    plain = load_splits("cifar10", seed=1, train_subset=60, test_subset=20)
    assert (s.fourier, s.fourier_radius, plain.fourier, plain.fourier_radius) == (kind, 2.5, "none", 0.0)
    # The mean is that of ALL official training images, filtered (the filtered mean).
    x_tr = arrays[True][0]
    torch.testing.assert_close(s.mean, _filtered(x_tr, kind, radius).mean(0).float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(splits.pixel_mean_of(x_tr, 0.0, kind, radius), s.mean, atol=0, rtol=0)
    assert torch.equal(s.y_train, plain.y_train) and torch.equal(s.y_test, plain.y_test)
    for filtered, original in ((s.x_train, plain.x_train), (s.x_val, plain.x_val)):
        ref = _filtered(((original + plain.mean).numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8),
                        kind, radius)
        torch.testing.assert_close(filtered + s.mean, ref.float(), atol=1e-5, rtol=0)
    # The test images stay original (minus the filtered training mean).
    torch.testing.assert_close(s.x_test + s.mean, plain.x_test + plain.mean, atol=1e-6, rtol=0)


def test_fourier_filter_images_in_chunks_and_bad_arguments(monkeypatch):
    from tdlib.data import fourier_filter_images, splits
    from tdlib.pyramid import fourier_highpass

    monkeypatch.setattr(splits, "BLUR_CHUNK", 7)
    x = torch.rand(30, 2, 9, 8, generator=torch.Generator().manual_seed(0))
    ref = fourier_highpass(x, 3.0)
    out = fourier_filter_images(x, "highpass", 3)
    assert out is x
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    y = torch.rand(3, 1, 4, 4)
    assert torch.equal(fourier_filter_images(y.clone(), "none", 0.0), y)
    for kind, radius, match in (("bandpass", 3.0, "lowpass, highpass"), ("lowpass", 0.0, "fourier_radius > 0"),
                                ("lowpass", -2.0, "fourier_radius > 0"), ("none", 3.0, "must be 0"),
                                ("lowpass", float("inf"), "finite")):
        with pytest.raises(ValueError, match=match):
            fourier_filter_images(y, kind, radius)
        with pytest.raises(ValueError, match=match):
            load_splits("cifar10", fourier=kind, fourier_radius=radius)
    with pytest.raises(ValueError, match="cannot be combined"):
        load_splits("cifar10", blur_sigma=1.2, fourier="lowpass", fourier_radius=5)
