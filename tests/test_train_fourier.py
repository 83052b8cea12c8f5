"""tdlib.train and the thesis Fourier study (§3.2.3): filtered training data, evaluate_fourier, ring-band TD inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tdlib.data import load_splits
from tdlib.nets import count_parameters
from tdlib.pyramid import fourier_bands, fourier_highpass, fourier_lowpass, frequency_radius
from tdlib.train import TrainConfig, build_model, evaluate_fourier, load_data, train

#: The cache key of a default MNIST run before the Fourier fields existed.
OLD_KEY = {"dataset": "mnist", "model": "lenetfc", "variant": "bu", "epochs": 1, "lr": 0.1, "weight_decay": 0.0,
           "batch_size": 128, "seed": 0, "val_fraction": 0.1, "train_subset": None, "test_subset": None,
           "widths": None, "recalibrate_bn": False}

TINY = {"train_subset": 256, "test_subset": 64, "epochs": 1}


# ---------------------------------------------------------------------------------------------
# Configuration and cache keys
# ---------------------------------------------------------------------------------------------


def test_fourier_fields_are_keyless_at_their_defaults():
    assert TrainConfig("mnist", "lenetfc").as_dict() == OLD_KEY
    default = TrainConfig("mnist", "lenetfc", fourier="none", fourier_radius=0, td_inputs="single",
                          ring_radii=[5, 10])
    assert default.as_dict() == OLD_KEY and default == TrainConfig("mnist", "lenetfc")
    for variant in ("bu", "td"):
        d = TrainConfig.paper("cifar10_aug", "resnet32", variant).as_dict()
        assert not {"fourier", "fourier_radius", "td_inputs", "ring_radii"} & d.keys()
    low = TrainConfig("mnist", "lenetfc", fourier="lowpass", fourier_radius=5)
    assert low.fourier_radius == 5.0 and isinstance(low.fourier_radius, float)
    assert low.as_dict() == {**OLD_KEY, "fourier": "lowpass", "fourier_radius": 5.0}
    high = TrainConfig("mnist", "lenetfc", fourier="highpass", fourier_radius=5).as_dict()
    assert high == {**OLD_KEY, "fourier": "highpass", "fourier_radius": 5.0}
    assert TrainConfig("mnist", "lenetfc", fourier="lowpass", fourier_radius=7).as_dict() != low.as_dict()
    rings = TrainConfig("mnist", "lenetfc", "td", td_inputs="fourier_rings")
    assert rings.as_dict() == {**OLD_KEY, "variant": "td", "td_inputs": "fourier_rings"}
    other = TrainConfig("mnist", "lenetfc", "td", td_inputs="fourier_rings", ring_radii=(3, 8)).as_dict()
    assert other == {**OLD_KEY, "variant": "td", "td_inputs": "fourier_rings", "ring_radii": [3.0, 8.0]}
    # A stored key rebuilds the same configuration (JSON lists included).
    assert TrainConfig(**other) == TrainConfig("mnist", "lenetfc", "td", td_inputs="fourier_rings",
                                               ring_radii=(3.0, 8.0))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"fourier": "bandpass", "fourier_radius": 5}, "none, lowpass, highpass"),
    ({"fourier": "lowpass"}, "fourier_radius > 0"),
    ({"fourier": "highpass", "fourier_radius": -1.0}, "fourier_radius > 0"),
    ({"fourier": "lowpass", "fourier_radius": float("nan")}, "finite"),
    ({"fourier_radius": 5.0}, "must be 0 without a Fourier filter"),
    ({"fourier": "lowpass", "fourier_radius": 5, "blur_sigma": 1.2}, "cannot be combined"),
    ({"td_inputs": "fourier_rings"}, "TD variants only"),
    ({"variant": "td", "td_inputs": "per_scale"}, "single, fourier_rings"),
    ({"variant": "td", "ring_radii": (3, 8)}, "only with td_inputs='fourier_rings'"),
    ({"variant": "td", "td_inputs": "fourier_rings", "ring_radii": "5,10"}, "sequence of finite numbers"),
])
def test_fourier_fields_are_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig("mnist", "lenetfc", **kwargs)


def test_fourier_is_for_classifiers_only():
    with pytest.raises(ValueError, match="classification"):
        TrainConfig.paper("fashion_mnist_mesh", "fcn", fourier="lowpass", fourier_radius=5)


def test_ring_band_models_have_the_blur_models_parameters():
    for model, dataset in (("lenetfc", "mnist"), ("nin_light", "fashion_mnist"), ("resnet32", "cifar10")):
        rings = build_model(TrainConfig(dataset, model, "td", td_inputs="fourier_rings"))
        assert rings.config["inputs"] == "fourier_rings" and rings.config["ring_radii"] == (5.0, 10.0)
        assert count_parameters(rings) == count_parameters(build_model(TrainConfig(dataset, model, "td")))
    with pytest.raises(ValueError, match="2 ring radii; got 1 radii"):
        build_model(TrainConfig("mnist", "lenetfc", "td", td_inputs="fourier_rings", ring_radii=(5,)))


# ---------------------------------------------------------------------------------------------
# Filtered training data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_filtered_training_images_lack_the_frequencies(kind):
    cfg = TrainConfig("mnist", "lenetfc", fourier=kind, fourier_radius=5, train_subset=256, test_subset=64)
    data = load_data(cfg, torch.device("cpu"))
    plain = load_splits("mnist", seed=0, train_subset=256, test_subset=64)
    assert data.mean is None  # MNIST has no pixel mean: the images are the filtered [0, 1] images
    r = frequency_radius(28, 28)
    removed = r > 5 if kind == "lowpass" else r <= 5
    for x, x0 in ((data.x_train, plain.x_train), (data.x_val, plain.x_val)):
        power, power0 = torch.fft.fft2(x).abs() ** 2, torch.fft.fft2(x0).abs() ** 2
        assert power[..., removed].sum() < 1e-9 * power0.sum()
        torch.testing.assert_close(power[..., ~removed], power0[..., ~removed], rtol=1e-3, atol=1e-3)
    # The test images stay original.
    assert torch.equal(data.x_test, plain.x_test) and torch.equal(data.y_test, plain.y_test)


def test_lowpass_run_evaluates_on_original_and_filtered_test_sets():
    cfg = TrainConfig("mnist", "lenetfc", fourier="lowpass", fourier_radius=5, **TINY)
    res = train(cfg, "cpu", progress=False)
    before = {k: v.clone() for k, v in res.model.state_dict().items()}
    out = evaluate_fourier(res.model, cfg)
    assert set(out) == {"test_loss_original", "test_acc_original", "test_loss_filtered", "test_acc_filtered",
                        "pred_counts_original", "pred_counts_filtered", "fourier", "fourier_radius"}
    assert out["test_acc_original"] == res.test_acc
    assert out["test_loss_original"] == pytest.approx(res.test_loss, rel=1e-6, abs=1e-7)
    assert (out["fourier"], out["fourier_radius"]) == ("lowpass", 5.0)
    assert 0 <= out["test_acc_filtered"] <= 1 and math.isfinite(out["test_loss_filtered"])
    assert out["test_loss_filtered"] != out["test_loss_original"]
    for key in ("pred_counts_original", "pred_counts_filtered"):
        assert len(out[key]) == 10 and sum(out[key]) == 64
    assert all(torch.equal(v, before[k]) for k, v in res.model.state_dict().items())
    # The filtered test set is the lowpass of the original test images.
    raw = load_splits("mnist", seed=0, val_fraction=0.0, train_subset=1, test_subset=64).x_test
    assert not torch.allclose(fourier_lowpass(raw, 5), raw, atol=1e-2)
    # Another test filter (e.g. for a network trained on original images), and the errors.
    high = evaluate_fourier(res.model, cfg, fourier="highpass", fourier_radius=5)
    assert high["fourier"] == "highpass" and high["test_acc_original"] == res.test_acc
    with pytest.raises(ValueError, match="needs a Fourier filter"):
        evaluate_fourier(res.model, TrainConfig("mnist", "lenetfc", **TINY))
    with pytest.raises(ValueError, match="both fourier and fourier_radius"):
        evaluate_fourier(res.model, cfg, fourier="highpass")
    with pytest.raises(ValueError, match="classification"):
        evaluate_fourier(res.model, TrainConfig.paper("fashion_mnist_mesh", "fcn"), fourier="lowpass",
                         fourier_radius=5)


def test_evaluate_fourier_subtracts_the_filtered_training_mean(monkeypatch):
    """A dataset with a pixel mean (a random 'cifar10' stand-in): the original test row is train()'s test."""
    from tdlib import train as train_module
    from tdlib.data import splits

    rng = np.random.default_rng(3)
    arrays = {True: (rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 200)),
              False: (rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 40))}
    fake = lambda name, train, **kw: arrays[train]  # noqa: E731
    monkeypatch.setattr(splits, "load_arrays", fake)
    monkeypatch.setattr(train_module, "load_arrays", fake)
    cfg = TrainConfig("cifar10", "lenetfc", fourier="highpass", fourier_radius=3, epochs=1)
    res = train(cfg, "cpu", progress=False)
    out = evaluate_fourier(res.model, cfg)
    assert out["test_acc_original"] == res.test_acc
    assert out["test_loss_original"] == pytest.approx(res.test_loss, rel=1e-6, abs=1e-7)
    data, plain = load_data(cfg, torch.device("cpu")), load_splits("cifar10", seed=0)
    torch.testing.assert_close(data.mean, fourier_highpass(plain.mean[None].double(), 3)[0].float(),
                               atol=1e-6, rtol=0)
    assert data.mean.mean((-2, -1)).abs().max() < 1e-6  # no DC left
    torch.testing.assert_close(data.x_test + data.mean, plain.x_test + plain.mean, atol=1e-6, rtol=0)
    assert sum(out["pred_counts_filtered"]) == 40


# ---------------------------------------------------------------------------------------------
# Ring-band TD inputs
# ---------------------------------------------------------------------------------------------


def test_ring_band_td_run_trains():
    cfg = TrainConfig("mnist", "lenetfc", "td", td_inputs="fourier_rings", **TINY)
    res = train(cfg, "cpu", progress=False)
    assert res.model.config["inputs"] == "fourier_rings"
    assert len(res.history) == 1 and math.isfinite(res.history.train_loss.iloc[0])
    assert 0 <= res.test_acc <= 1 and math.isfinite(res.test_loss)
    x = load_splits("mnist", seed=0, val_fraction=0.0, train_subset=1, test_subset=4).x_test
    levels = res.model.input_levels(x)
    torch.testing.assert_close(levels[0], fourier_bands(x)[2], atol=1e-6, rtol=0)
