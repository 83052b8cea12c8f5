"""tdlib.data.sources: the registry, local roots, mirrors, loading and the offline error."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest

from tdlib.data import (
    DATASETS,
    DatasetNotFoundError,
    dataset_info,
    dataset_root,
    load_arrays,
    load_splits,
    mirror_dirs,
    sources,
)
from tdlib.io import repo_dir

# First 10 training labels, read from the official label files.
FIRST_TRAIN_LABELS = {
    "mnist": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    "fashion_mnist": [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
}
FIRST_TEST_LABELS = {
    "mnist": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
    "fashion_mnist": [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
}
MNIST_DIRS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _read_idx_gz(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def _checkout() -> Path | None:
    return repo_dir()


def test_dataset_root_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("TDLIB_DATA", str(tmp_path / "x"))
    assert dataset_root() == tmp_path / "x"
    monkeypatch.delenv("TDLIB_DATA")
    repo = _checkout()
    if repo is not None:
        assert dataset_root() == repo / "data" / "datasets"
    else:
        assert dataset_root() == Path.home() / ".cache" / "tdlib" / "datasets"


def test_mirror_dirs_order(monkeypatch, tmp_path):
    repo = _checkout()
    default = [repo.parent / "shared" / "data"] if repo is not None else []
    monkeypatch.delenv("TDLIB_DATA_MIRROR", raising=False)
    assert mirror_dirs() == default
    monkeypatch.setenv("TDLIB_DATA_MIRROR", str(tmp_path))
    assert mirror_dirs() == [tmp_path, *default]


def test_registry():
    assert set(DATASETS) == {"mnist", "fashion_mnist", "cifar10", "imagenette", "toy_cosines"}
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.num_classes == len(info.classes) == (5 if name == "toy_cosines" else 10)
        assert info.stratified_val == (name == "toy_cosines")
    toy = DATASETS["toy_cosines"]
    assert (toy.shape, toy.pixel_mean, toy.num_train, toy.num_test) == ((1, 32, 32), False, 4000, 1000)
    assert toy.classes == ("0 (f=0)", "1 (f=1)", "2 (f=2)", "3 (f=4)", "4 (f=8)")
    assert DATASETS["cifar10"].shape == (3, 32, 32) and DATASETS["cifar10"].pixel_mean
    assert DATASETS["mnist"].shape == (1, 28, 28) and not DATASETS["mnist"].pixel_mean
    assert not DATASETS["fashion_mnist"].pixel_mean and DATASETS["imagenette"].pixel_mean
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["mnist"].num_classes = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "call",
    [
        lambda: dataset_info("cifar100"),
        lambda: load_arrays("cifar100", True, download=False),
        lambda: load_splits("cifar100", download=False),
    ],
    ids=["dataset_info", "load_arrays", "load_splits"],
)
def test_unknown_dataset_name(call):
    with pytest.raises(ValueError) as exc:
        call()
    for name in ("mnist", "fashion_mnist", "cifar10", "imagenette", "cifar100"):
        assert name in str(exc.value)


def test_mnist_like_arrays(mnist_like):
    name, root, mirror = mnist_like["name"], mnist_like["root"], mnist_like["mirror"]
    (x, y), (xt, yt) = mnist_like["train"], mnist_like["test"]
    assert x.shape == (60000, 28, 28, 1) and xt.shape == (10000, 28, 28, 1)
    assert x.dtype == xt.dtype == np.uint8
    assert y.shape == (60000,) and yt.shape == (10000,)
    assert y.dtype == yt.dtype == np.int64
    assert y[:10].tolist() == FIRST_TRAIN_LABELS[name]
    assert yt[:10].tolist() == FIRST_TEST_LABELS[name]

    # Independent read of the mirror's archives with gzip + numpy.
    raw = mirror / MNIST_DIRS[name] / "raw"
    ref_x = _read_idx_gz(raw / "train-images-idx3-ubyte.gz", 16).reshape(60000, 28, 28)
    ref_y = _read_idx_gz(raw / "train-labels-idx1-ubyte.gz", 8)
    for i in (0, 1, 12345, 59999):
        assert int(x[i].sum()) == int(ref_x[i].sum(dtype=np.int64))
    np.testing.assert_array_equal(x[..., 0], ref_x)
    np.testing.assert_array_equal(y, ref_y)
    ref_xt = _read_idx_gz(raw / "t10k-images-idx3-ubyte.gz", 16).reshape(10000, 28, 28)
    np.testing.assert_array_equal(xt[..., 0], ref_xt)

    # The archives were copied into the writable root (TDLIB_DATA).
    local = root / MNIST_DIRS[name] / "raw"
    assert sorted(p.name for p in local.glob("*.gz")) == sorted(p.name for p in raw.glob("*.gz"))
    assert not list(local.glob("*.tmp"))


def test_mnist_like_reloads_without_mirror(mnist_like, monkeypatch):
    """Once extracted into the root, no mirror and no network are needed."""
    monkeypatch.setattr(sources, "mirror_dirs", list)
    x, y = load_arrays(mnist_like["name"], False, root=mnist_like["root"], download=False)
    np.testing.assert_array_equal(x, mnist_like["test"][0])
    np.testing.assert_array_equal(y, mnist_like["test"][1])


def test_cifar10_arrays(cifar):
    (x, y), (xt, yt) = cifar["train"], cifar["test"]
    assert x.shape == (50000, 32, 32, 3) and xt.shape == (10000, 32, 32, 3)
    assert x.dtype == np.uint8 and y.dtype == yt.dtype == np.int64
    assert y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert yt[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert np.bincount(y).tolist() == [5000] * 10
    # Known values of the official data_batch_1, row 0, in CHW order.
    chw = x[0].transpose(2, 0, 1).reshape(-1)
    assert chw[:3].tolist() == [59, 43, 50] and chw[-3:].tolist() == [140, 84, 72]
    mean = x.reshape(-1, 3).mean(axis=0, dtype=np.float64) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=1e-4)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "imagenette"])
def test_missing_dataset_offline(name, monkeypatch, tmp_path):
    root = tmp_path / "root"
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    absent = tmp_path / "absent-mirror"
    monkeypatch.setenv("TDLIB_DATA", str(root))
    monkeypatch.setenv("TDLIB_DATA_MIRROR", str(empty))
    monkeypatch.setattr(sources, "mirror_dirs", lambda: [empty, absent])
    with pytest.raises(DatasetNotFoundError) as exc:
        load_arrays(name, True, download=False)
    assert isinstance(exc.value, FileNotFoundError)
    msg = str(exc.value)
    for part in (
        repr(name),
        str(root),
        str(empty),
        str(absent),
        "download=False",
        "TDLIB_DATA_MIRROR",
        "TDLIB_DATA ",
        "internet",
    ):
        assert part in msg, (part, msg)


def test_imagenette_from_extracted_folder(monkeypatch, tmp_path):
    """Offline check of the Imagenette path on a tiny fake ``imagenette2/`` folder."""
    from PIL import Image

    root = tmp_path / "root"
    mirror = tmp_path / "mirror"
    wnids = ["n02102040", "n01440764"]  # sorted: n01440764 -> 0, n02102040 -> 1
    for split, n in (("train", 2), ("val", 1)):
        for k, wnid in enumerate(wnids):
            folder = mirror / "imagenette2" / split / wnid
            folder.mkdir(parents=True)
            for i in range(n):
                if k == 0:  # grayscale, non-square
                    img = Image.new("L", (40, 24), color=200)
                else:
                    img = Image.new("RGB", (30, 50), color=(250, 10, 10))
                img.save(folder / f"{wnid}_{i}.JPEG", quality=95)
    info = DATASETS["imagenette"]
    monkeypatch.setitem(
        sources._REGISTRY, "imagenette", dataclasses.replace(info, num_train=4, num_test=2)
    )
    monkeypatch.setattr(sources, "mirror_dirs", lambda: [mirror])

    x, y = load_arrays("imagenette", True, root=root, download=False, size=16)
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.uint8
    assert y.tolist() == [0, 0, 1, 1]
    assert (x[2] == x[2, :, :, :1]).all()  # grayscale tiled to 3 channels
    assert abs(int(x[2].mean()) - 200) <= 2
    np.testing.assert_allclose(x[0].reshape(-1, 3).mean(0), [250, 10, 10], atol=4)
    assert (root / "imagenette-cache" / "imagenette2-train-16.npz").is_file()

    # Reads the cache afterwards, even with the images gone.
    monkeypatch.setattr(sources, "mirror_dirs", list)
    x2, y2 = load_arrays("imagenette", True, root=root, download=False, size=16)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)

    # size=None: the original's sizes, 156 (train) and 128 (val).
    monkeypatch.setattr(sources, "mirror_dirs", lambda: [mirror])
    assert load_arrays("imagenette", False, root=root, download=False, size=None)[0].shape == (
        2,
        128,
        128,
        3,
    )


