"""Fixtures shared by every test folder: skip a test cleanly when a data set is not on this machine."""

from __future__ import annotations

import pytest


def _require(name: str, label: str) -> None:
    from tdlib.data import DatasetNotFoundError, load_arrays

    try:
        load_arrays(name, train=False, download=False)
    except DatasetNotFoundError as e:
        pytest.skip(f"{label} not available offline: {str(e)[:200]}")


@pytest.fixture(scope="session")
def mnist_available() -> None:
    """Skip unless the MNIST test set is in the local mirror."""
    _require("mnist", "MNIST")


@pytest.fixture(scope="session")
def fashion_available() -> None:
    """Skip unless the Fashion-MNIST test set is in the local mirror (also the mesh set's source)."""
    _require("fashion_mnist", "Fashion-MNIST")


@pytest.fixture(scope="session")
def cifar_available() -> None:
    """Skip unless the CIFAR-10 test set is in the local mirror."""
    _require("cifar10", "CIFAR-10")
