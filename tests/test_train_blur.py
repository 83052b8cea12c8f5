"""tdlib.train and the thesis downscale study: blur_sigma, the toy cosine set, evaluate_blur_levels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tdlib.data import load_splits
from tdlib.pyramid import blur_sigmas, frequency_radius
from tdlib.train import (
    PAPER_WEIGHT_DECAY,
    TrainConfig,
    build_model,
    evaluate,
    evaluate_blur_levels,
    paper_epochs,
    train,
)

#: The cache key of a default MNIST run before blur_sigma existed.
OLD_KEY = {"dataset": "mnist", "model": "lenetfc", "variant": "bu", "epochs": 1, "lr": 0.1, "weight_decay": 0.0,
           "batch_size": 128, "seed": 0, "val_fraction": 0.1, "train_subset": None, "test_subset": None,
           "widths": None, "recalibrate_bn": False}


def test_blur_sigma_is_in_the_cache_key_only_when_set():
    assert TrainConfig("mnist", "lenetfc").as_dict() == OLD_KEY
    assert TrainConfig("mnist", "lenetfc", blur_sigma=0).as_dict() == OLD_KEY
    d = TrainConfig("mnist", "lenetfc", blur_sigma=1.2).as_dict()
    assert d == {**OLD_KEY, "blur_sigma": 1.2}
    assert TrainConfig("mnist", "lenetfc", blur_sigma=2.4).as_dict() != d
    assert TrainConfig("mnist", "lenetfc", blur_sigma=1).blur_sigma == 1.0
    for key in ("blur_sigma",):
        assert key not in TrainConfig.paper("cifar10_aug", "resnet32", "td").as_dict()


@pytest.mark.parametrize("bad", [-0.6, float("nan"), float("inf"), True, "1.2"])
def test_blur_sigma_is_validated(bad):
    with pytest.raises(ValueError, match="blur_sigma"):
        TrainConfig("mnist", "lenetfc", blur_sigma=bad)


def test_blur_sigma_is_for_classifiers_only():
    with pytest.raises(ValueError, match="classification"):
        TrainConfig.paper("fashion_mnist_mesh", "fcn", blur_sigma=1.2)


def test_toy_cosines_takes_mnist_settings():
    for model, variant in (("lenetfc", "bu"), ("lenetfc", "td"), ("nin_light", "rev")):
        toy, mnist = TrainConfig.paper("toy_cosines", model, variant), TrainConfig.paper("mnist", model, variant)
        assert (toy.epochs, toy.weight_decay) == (mnist.epochs, mnist.weight_decay)
        assert toy.epochs == paper_epochs("mnist", model, variant)
    assert PAPER_WEIGHT_DECAY["mnist"] == TrainConfig.paper("toy_cosines", "lenetfc").weight_decay
    with pytest.raises(ValueError, match="uses mnist's settings"):
        TrainConfig.paper("toy_cosines", "resnet32")


def test_models_get_the_datasets_classes_and_channels():
    x = torch.rand(2, 1, 32, 32)
    for variant in ("bu", "td"):
        model = build_model(TrainConfig("toy_cosines", "lenetfc", variant)).eval()
        assert model(x).shape == (2, 5)
    # The paper's pairs are unchanged: MNIST LeNetFC BU still has 7,670 parameters and 10 outputs.
    mnist = build_model(TrainConfig("mnist", "lenetfc"))
    assert sum(p.numel() for p in mnist.parameters()) == 7670
    assert mnist.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    cifar = build_model(TrainConfig("cifar10", "nin"))
    assert cifar.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def _high_energy(x: torch.Tensor) -> float:
    """Spectral energy beyond 6 cycles per 32 pixels in the 24 x 24 interior (which the zero
    padding of a sigma-1.2 blur does not reach), per-image mean removed, Hann window."""
    inner = x[..., 4:28, 4:28]
    w = torch.hann_window(24, periodic=False)
    power = torch.fft.fft2((inner - inner.mean((-2, -1), keepdim=True)) * (w[:, None] * w[None, :])).abs() ** 2
    return float(power[..., frequency_radius(24, 24) > 6 * 24 / 32].sum())


def test_blurred_training_data_are_blurred():
    plain = load_splits("toy_cosines", seed=0, train_subset=400, test_subset=100)
    blurred = load_splits("toy_cosines", seed=0, train_subset=400, test_subset=100, blur_sigma=1.2)
    assert torch.equal(plain.y_train, blurred.y_train) and torch.equal(plain.y_test, blurred.y_test)
    # Only class 4 (f = 8) has energy there; the blur scales its amplitude by
    # exp(-2 pi^2 1.2^2 (8/32)^2) = 0.17, its energy by 0.029 (sigma 0.6 would leave 0.41).
    gain = math.exp(-2 * math.pi**2 * 1.2**2 * (8 / 32) ** 2) ** 2
    for a, b in ((plain.x_train, blurred.x_train), (plain.x_val, blurred.x_val), (plain.x_test, blurred.x_test)):
        assert b.shape == a.shape
        assert _high_energy(b) / _high_energy(a) == pytest.approx(gain, rel=0.3)


def test_toy_config_trains_with_five_outputs():
    res = train(TrainConfig("toy_cosines", "lenetfc", "td", epochs=1, train_subset=200, test_subset=100), "cpu",
                progress=False)
    assert res.model(torch.rand(3, 1, 32, 32)).shape == (3, 5)
    assert len(res.history) == 1 and 0 <= res.test_acc <= 1 and math.isfinite(res.test_loss)


def _check_rows(df, res, sigmas, num_classes: int, n_test: int) -> None:
    assert list(df.columns) == ["test_sigma", "test_loss", "test_acc", "pred_counts"]
    assert df.test_sigma.tolist() == pytest.approx(list(sigmas))
    for counts in df.pred_counts:
        assert len(counts) == num_classes and sum(counts) == n_test and all(isinstance(c, int) for c in counts)
    row = df[df.test_sigma == res.config.blur_sigma].iloc[0]
    assert row.test_acc == res.test_acc
    assert row.test_loss == pytest.approx(res.test_loss, rel=1e-6, abs=1e-7)


def test_evaluate_blur_levels_repeats_trains_own_test():
    cfg = TrainConfig("toy_cosines", "lenetfc", "bu", epochs=1, train_subset=200, test_subset=100, blur_sigma=1.2)
    res = train(cfg, "cpu", progress=False)
    sigmas = blur_sigmas(4)  # 0, 0.6, 1.2, 2.4
    before = {k: v.clone() for k, v in res.model.state_dict().items()}
    df = evaluate_blur_levels(res.model, cfg, sigmas)
    _check_rows(df, res, sigmas, 5, 100)
    assert all(torch.equal(v, before[k]) for k, v in res.model.state_dict().items())
    # Other sigmas are other images: the losses differ.
    assert df.test_loss.nunique() == len(sigmas)
    with pytest.raises(ValueError, match="sigma"):
        evaluate_blur_levels(res.model, cfg, [0.0, -1.0])
    with pytest.raises(ValueError, match="classification"):
        evaluate_blur_levels(res.model, TrainConfig("fashion_mnist_mesh", "fcn"), [0.0])


def test_evaluate_blur_levels_uses_the_blurred_training_mean(tmp_path):
    from tdlib.data import DatasetNotFoundError, load_arrays

    try:
        load_arrays("cifar10", train=False, download=False)
    except DatasetNotFoundError:
        pytest.skip("CIFAR-10 not available offline")
    cfg = TrainConfig("cifar10", "lenetfc", "bu", epochs=1, train_subset=64, test_subset=48, blur_sigma=0.6)
    res = train(cfg, "cpu", progress=False)
    df = evaluate_blur_levels(res.model, cfg, [2.4, 0.6, 0.0], batch_size=16)
    _check_rows(df, res, [2.4, 0.6, 0.0], 10, 48)
    # The unblurred row subtracts the mean of the images blurred at 0.6 (the training mean).
    s = load_splits("cifar10", seed=0, val_fraction=0.0, train_subset=1, test_subset=48, blur_sigma=0.6)
    raw = load_splits("cifar10", seed=0, val_fraction=0.0, pixel_mean=False, train_subset=1, test_subset=48)
    loss, acc = evaluate(res.model, raw.x_test - s.mean, raw.y_test)
    row = df[df.test_sigma == 0.0].iloc[0]
    assert row.test_acc == acc and row.test_loss == pytest.approx(loss, rel=1e-5)
    assert np.isfinite(df.test_loss).all()
