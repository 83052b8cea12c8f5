"""Tests of tdlib.data: loading from the offline mirror, splits, augmentation, batching."""

from __future__ import annotations

import dataclasses
import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tdlib import data
from tdlib.data import (
    DATASETS,
    DatasetNotFoundError,
    ShiftFlip,
    dataset_info,
    dataset_root,
    iterate_batches,
    load_arrays,
    load_splits,
    mirror_dirs,
    shift_flip,
    translate,
    validation_indices,
)

MNIST_DIRS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
# First 10 training labels, read from the official label files.
FIRST_TRAIN_LABELS = {
    "mnist": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    "fashion_mnist": [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
}
FIRST_TEST_LABELS = {
    "mnist": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
    "fashion_mnist": [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
}


def _mirror_with(relpath: str) -> Path:
    """First default mirror holding ``relpath``; skips the test when none does."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TDLIB_DATA_MIRROR", raising=False)
        dirs = mirror_dirs()
    for d in dirs:
        if (d / relpath).exists():
            return d
    pytest.skip(f"no offline mirror holds {relpath} (tried {dirs})")


def _read_idx_gz(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


# ---------------------------------------------------------------------------
# Fixtures: real data from the mirror, copied into temporary roots
# ---------------------------------------------------------------------------


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
        mp.setattr(data, "load_arrays", _fake_loader(cifar))
        return load_splits("cifar10")


@pytest.fixture
def fake_cifar_loader(cifar, monkeypatch):
    """Makes load_arrays return the already loaded CIFAR arrays (fast load_splits)."""
    monkeypatch.setattr(data, "load_arrays", _fake_loader(cifar))


# ---------------------------------------------------------------------------
# Locations and registry
# ---------------------------------------------------------------------------


def _checkout() -> Path | None:
    repo = Path(data.__file__).resolve().parents[1]
    return repo if (repo / "pyproject.toml").is_file() else None


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
    assert set(DATASETS) == {"mnist", "fashion_mnist", "cifar10", "imagenette"}
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.num_classes == len(info.classes) == 10
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


# ---------------------------------------------------------------------------
# load_arrays
# ---------------------------------------------------------------------------


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
    monkeypatch.setattr(data, "mirror_dirs", list)
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
    monkeypatch.setattr(data, "mirror_dirs", lambda: [empty, absent])
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
        data._REGISTRY, "imagenette", dataclasses.replace(info, num_train=4, num_test=2)
    )
    monkeypatch.setattr(data, "mirror_dirs", lambda: [mirror])

    x, y = load_arrays("imagenette", True, root=root, download=False, size=16)
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.uint8
    assert y.tolist() == [0, 0, 1, 1]
    assert (x[2] == x[2, :, :, :1]).all()  # grayscale tiled to 3 channels
    assert abs(int(x[2].mean()) - 200) <= 2
    np.testing.assert_allclose(x[0].reshape(-1, 3).mean(0), [250, 10, 10], atol=4)
    assert (root / "imagenette-cache" / "imagenette2-train-16.npz").is_file()

    # Reads the cache afterwards, even with the images gone.
    monkeypatch.setattr(data, "mirror_dirs", list)
    x2, y2 = load_arrays("imagenette", True, root=root, download=False, size=16)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)

    # size=None: the original's sizes, 156 (train) and 128 (val).
    monkeypatch.setattr(data, "mirror_dirs", lambda: [mirror])
    assert load_arrays("imagenette", False, root=root, download=False, size=None)[0].shape == (
        2,
        128,
        128,
        3,
    )


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_flip_only():
    x = torch.rand(64, 3, 8, 8)
    out = shift_flip(x, shift=0.0, flip=True, generator=_gen(0))
    flipped = torch.tensor([torch.equal(o, f) for o, f in zip(out, x.flip(-1), strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert (flipped | kept).all()
    assert 10 < int(flipped.sum()) < 54  # p = 0.5
    assert torch.equal(shift_flip(x, shift=0.0, flip=False), x)


@pytest.mark.parametrize(("dy", "dx"), [(0, 3), (0, -2), (2, 0), (-3, 1)])
def test_integer_translate_is_roll_with_edge(dy, dx):
    x = torch.rand(2, 3, 10, 12)
    out = translate(x, torch.tensor([dy, dy]), torch.tensor([dx, dx]))
    # Edge-padded reference: rows/cols clamp to the border.
    rows = (torch.arange(10) - dy).clamp(0, 9)
    cols = (torch.arange(12) - dx).clamp(0, 11)
    ref = x[:, :, rows][:, :, :, cols]
    assert torch.equal(out, ref)
    rolled = torch.roll(x, shifts=(dy, dx), dims=(-2, -1))
    r0, r1 = max(dy, 0), 10 + min(dy, 0)
    c0, c1 = max(dx, 0), 12 + min(dx, 0)
    assert torch.equal(out[..., r0:r1, c0:c1], rolled[..., r0:r1, c0:c1])
    if dx > 0:
        assert torch.equal(out[..., c0 - 1], out[..., c0])  # replicated left edge
        assert torch.equal(out[..., 0], ref[..., 0])


def test_translate_matches_keras_and_grid_sample():
    ndimage = pytest.importorskip("scipy.ndimage")
    g = _gen(1)
    x = torch.rand(6, 2, 9, 11, generator=g)
    dy = (torch.rand(6, generator=g) * 2 - 1) * 3.3
    dx = (torch.rand(6, generator=g) * 2 - 1) * 4.1
    out = translate(x, dy, dx)
    # Keras apply_affine_transform: scipy affine_transform, order 1, mode 'nearest'.
    for b in range(6):
        for c in range(2):
            ref = ndimage.affine_transform(
                x[b, c].double().numpy(),
                np.eye(2),
                offset=(-dy[b].item(), -dx[b].item()),
                order=1,
                mode="nearest",
            )
            np.testing.assert_allclose(out[b, c].numpy(), ref, atol=1e-5)
    theta = torch.zeros(6, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = -2 * dx / 11
    theta[:, 1, 2] = -2 * dy / 9
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_shift_range_is_fraction_of_size():
    """A horizontal (vertical) ramp reveals the drawn shift: uniform in ±0.1·W (±0.1·H)."""
    b, h, w = 2000, 20, 40
    ramp_x = torch.arange(w, dtype=torch.float32).expand(b, 1, h, w)
    ramp_y = torch.arange(h, dtype=torch.float32)[:, None].expand(b, 1, h, w)
    x = torch.cat([ramp_x, ramp_y], dim=1)
    out = shift_flip(x, shift=0.1, flip=False, generator=_gen(2))
    dx = w // 2 - out[:, 0, h // 2, w // 2]
    dy = h // 2 - out[:, 1, h // 2, w // 2]
    for d, limit in ((dx, 0.1 * w), (dy, 0.1 * h)):
        assert d.abs().max() <= limit + 1e-4
        assert d.max() > 0.95 * limit and d.min() < -0.95 * limit
        assert abs(d.mean().item()) < 0.1 * limit
        assert (d != d.round()).float().mean() > 0.9  # continuous, not integer shifts
    assert dx.std() > 1.5 * dy.std()  # each axis scales with its own size


def test_shiftflip_module_train_eval_and_determinism():
    x = torch.rand(32, 3, 32, 32, generator=_gen(3))
    aug = ShiftFlip()
    assert aug.training
    out = aug(x, generator=_gen(4))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.allclose(out, x)
    assert (out - x).abs().mean() > 0.05
    torch.testing.assert_close(out, aug(x, generator=_gen(4)), atol=0, rtol=0)
    torch.testing.assert_close(out, shift_flip(x, 0.1, True, _gen(4)), atol=0, rtol=0)
    assert not torch.equal(out, aug(x, generator=_gen(5)))
    aug.eval()
    assert aug(x) is x


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_shiftflip_cuda_matches_cpu():
    x = torch.rand(16, 3, 32, 32, generator=_gen(6))
    cpu = shift_flip(x, 0.1, True, _gen(7))
    gpu = shift_flip(x.cuda(), 0.1, True, _gen(7))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
def test_iterate_batches(shuffle):
    n = 10
    x = torch.arange(n).float()[:, None] * 10
    y = torch.arange(n)
    g = _gen(8)
    epochs = []
    for _ in range(2):
        batches = list(iterate_batches(x, y, 4, shuffle=shuffle, generator=g))
        assert [len(bx) for bx, _ in batches] == [4, 4, 2]  # last partial batch kept
        for bx, by in batches:
            assert torch.equal(bx[:, 0], by.float() * 10)  # x and y stay aligned
        order = torch.cat([by for _, by in batches])
        assert sorted(order.tolist()) == list(range(n))  # each index exactly once
        epochs.append(order)
    if shuffle:
        assert not torch.equal(epochs[0], epochs[1])  # reshuffled every epoch
        again = torch.cat(
            [by for _, by in iterate_batches(x, y, 4, shuffle=True, generator=_gen(8))]
        )
        assert torch.equal(again, epochs[0])
    else:
        assert epochs[0].tolist() == list(range(n))
    with pytest.raises(ValueError):
        next(iterate_batches(x, y[:5], 4, shuffle=False))
