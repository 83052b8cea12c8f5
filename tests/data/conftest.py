"""Shared fixtures of the tdlib.data tests: real data from the offline mirror, copied into temporary roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from tdlib.data import load_arrays, load_splits, mirror_dirs, splits

MNIST_DIRS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _mirror_with(relpath: str) -> Path:
    """First default mirror holding ``relpath``; skips the test when none does."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TDLIB_DATA_MIRROR", raising=False)
        dirs = mirror_dirs()
    for d in dirs:
        if (d / relpath).exists():
            return d
    pytest.skip(f"no offline mirror holds {relpath} (tried {dirs})")


@pytest.fixture(scope="module", params=["mnist", "fashion_mnist"])
def mnist_like(request, tmp_path_factory):
    """Loads a MNIST-like dataset through TDLIB_DATA pointing at an empty temp root."""
    name = request.param
    mirror = _mirror_with(f"{MNIST_DIRS[name]}/raw/train-images-idx3-ubyte.gz")
    root = tmp_path_factory.mktemp(f"{name}-root")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TDLIB_DATA", str(root))
        mp.delenv("TDLIB_DATA_MIRROR", raising=False)
        train = load_arrays(name, True, download=False)
        test = load_arrays(name, False, download=False)
    return {"name": name, "root": root, "mirror": mirror, "train": train, "test": test}


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    _mirror_with("cifar10/cifar10-train.npz")
    root = tmp_path_factory.mktemp("cifar-root")
    train = load_arrays("cifar10", True, root=root, download=False)
    test = load_arrays("cifar10", False, root=root, download=False)
    return {"root": root, "train": train, "test": test}


def _fake_loader(cifar):
    """A load_arrays stand-in returning the already loaded CIFAR arrays (no second read)."""

    def fake(name, train, **kwargs):
        assert name == "cifar10"
        return cifar["train"] if train else cifar["test"]

    return fake


@pytest.fixture(scope="module")
def cifar_splits(cifar):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(splits, "load_arrays", _fake_loader(cifar))
        return load_splits("cifar10")


@pytest.fixture
def fake_cifar_loader(cifar, monkeypatch):
    """Makes load_arrays return the already loaded CIFAR arrays (fast load_splits)."""
    monkeypatch.setattr(splits, "load_arrays", _fake_loader(cifar))
