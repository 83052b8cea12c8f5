"""Datasets, splits, augmentation and batching, as in the original Keras code.

Images leave :func:`load_arrays` as uint8 ``(N, H, W, C)`` NumPy arrays in the
official order. :func:`load_splits` turns them into float32 ``(N, C, H, W)``
tensors in [0, 1], optionally minus the per-pixel training mean, with the
original's non-stratified random validation split. :class:`ShiftFlip` is the
CIFAR-10 "aug" augmentation (Keras ``ImageDataGenerator`` with shift 0.1 and
horizontal flips) on whole batches, and :func:`iterate_batches` is Keras
``fit`` batching.

Where the data come from (see ``data/README.md``):

* a writable dataset root, :func:`dataset_root` (env ``TDLIB_DATA``);
* read-only offline mirrors, :func:`mirror_dirs` (env ``TDLIB_DATA_MIRROR``,
  then ``<repo>/../shared/data``);
* torchvision's downloads, on machines with internet access.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotFoundError",
    "ShiftFlip",
    "Splits",
    "dataset_info",
    "dataset_root",
    "iterate_batches",
    "load_arrays",
    "load_splits",
    "mirror_dirs",
    "shift_flip",
    "translate",
    "validation_indices",
]

_PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def _repo_dir() -> Path | None:
    """The source checkout holding this package, or None when installed elsewhere."""
    return _PACKAGE_PARENT if (_PACKAGE_PARENT / "pyproject.toml").is_file() else None


# ---------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------


def dataset_root() -> Path:
    """Writable root for datasets (torchvision layout).

    Returns:
        ``$TDLIB_DATA`` if set, else ``<repo>/data/datasets`` for a source
        checkout, else ``~/.cache/tdlib/datasets``. The folder may not exist yet.
    """
    env = os.environ.get("TDLIB_DATA")
    if env:
        return Path(env).expanduser()
    repo = _repo_dir()
    if repo is not None:
        return repo / "data" / "datasets"
    return Path.home() / ".cache" / "tdlib" / "datasets"


def mirror_dirs() -> list[Path]:
    """Read-only offline mirrors, in the order they are tried.

    Returns:
        The paths in ``$TDLIB_DATA_MIRROR`` (several may be joined with
        ``os.pathsep``), then ``<repo>/../shared/data`` for a source checkout.
        Paths are returned whether or not they exist.
    """
    dirs: list[Path] = []
    env = os.environ.get("TDLIB_DATA_MIRROR")
    if env:
        dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    repo = _repo_dir()
    if repo is not None:
        dirs.append(repo.parent / "shared" / "data")
    return dirs


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset.

    Attributes:
        name: Registry key.
        shape: Image shape ``(C, H, W)`` as used by the models.
        num_classes: Number of classes.
        classes: Class names in label order.
        pixel_mean: Whether the original subtracts the per-pixel training mean.
        num_train: Size of the official training set.
        num_test: Size of the official test set (Imagenette: the val set).
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    classes: tuple[str, ...]
    pixel_mean: bool
    num_train: int
    num_test: int


_REGISTRY = {
    "mnist": DatasetInfo(
        "mnist", (1, 28, 28), 10, tuple(str(d) for d in range(10)), False, 60000, 10000
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        (1, 28, 28),
        10,
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        False,
        60000,
        10000,
    ),
    "cifar10": DatasetInfo(
        "cifar10",
        (3, 32, 32),
        10,
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        True,
        50000,
        10000,
    ),
    # Class order = wnid folder names sorted (n01440764, n02102040, ...), as the original.
    "imagenette": DatasetInfo(
        "imagenette",
        (3, 128, 128),
        10,
        (
            "tench",
            "English springer",
            "cassette player",
            "chain saw",
            "church",
            "French horn",
            "garbage truck",
            "gas pump",
            "golf ball",
            "parachute",
        ),
        True,
        9469,
        3925,
    ),
}

#: Read-only registry ``name -> DatasetInfo``. Use :func:`dataset_info` for a
#: lookup that raises ``ValueError`` with the valid names.
DATASETS = MappingProxyType(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    """Looks up a dataset in :data:`DATASETS`.

    Raises:
        ValueError: ``name`` is not registered; the message lists the valid names.
    """
    try:
        return DATASETS[name]
    except KeyError:
        valid = ", ".join(DATASETS)
        raise ValueError(f"unknown dataset {name!r}; valid names: {valid}") from None


# ---------------------------------------------------------------------------
# Loading raw arrays
# ---------------------------------------------------------------------------


class DatasetNotFoundError(FileNotFoundError):
    """No local copy, mirror or download provided the dataset."""


_FIX_HINTS = {
    "mnist": "a folder holding MNIST/raw/*.gz (torchvision's four MNIST archives)",
    "fashion_mnist": "a folder holding FashionMNIST/raw/*.gz (torchvision's four archives)",
    "cifar10": "a folder holding cifar10/cifar10-train.npz and cifar10/cifar10-test.npz",
    "imagenette": "a folder holding the extracted imagenette2/{train,val}/<wnid>/*.JPEG",
}


def _not_found(name: str, split: str, root: Path, attempts: list[str]) -> DatasetNotFoundError:
    tried = "\n".join(f"  {i}. {a}" for i, a in enumerate(attempts, 1))
    return DatasetNotFoundError(
        f"dataset {name!r} ({split} split) not found. Tried:\n{tried}\n"
        "To fix, do one of:\n"
        f"  - set TDLIB_DATA_MIRROR to {_FIX_HINTS[name]};\n"
        "  - run once with download=True on a machine with internet access;\n"
        f"  - set TDLIB_DATA to a dataset root that already holds the files "
        f"(now: {root})."
    )


def _one_line(err: BaseException, limit: int = 400) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _atomic_write(dst: Path, write: Callable[[BinaryIO], object]) -> None:
    """Writes ``dst`` via a temp file in the same folder, then ``os.replace`` (atomic)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_copy(src: Path, dst: Path) -> None:
    """Copies ``src`` to ``dst`` atomically."""
    with open(src, "rb") as inp:
        _atomic_write(dst, lambda out: shutil.copyfileobj(inp, out))


def _file_problem(path: Path, md5: str) -> str | None:
    """None if ``path`` is a file with this md5, else ``"missing"`` or ``"md5 mismatch"``."""
    from torchvision.datasets.utils import check_md5

    if not path.is_file():
        return "missing"
    return None if check_md5(str(path), md5) else "md5 mismatch"


def _describe(problems: dict[str, str | None]) -> str:
    """``{"a.gz": "missing", "b.gz": None}`` -> ``"missing: a.gz"``."""
    groups: dict[str, list[str]] = {}
    for f, problem in problems.items():
        if problem is not None:
            groups.setdefault(problem, []).append(f)
    return "; ".join(f"{problem}: {', '.join(files)}" for problem, files in groups.items())


def _load_mnist_like(
    name: str, train: bool, root: Path, download: bool, attempts: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    raw = root / cls.__name__ / "raw"

    def read() -> tuple[np.ndarray, np.ndarray]:
        # With the archives present and md5-correct, download=True only decompresses.
        ds = cls(str(root), train=train, download=True)
        return ds.data.numpy()[..., None], ds.targets.numpy().astype(np.int64)

    # Already decompressed by an earlier call: torchvision reads the idx files.
    if all((raw / Path(f).stem).is_file() for f, _ in cls.resources):
        try:
            return read()
        except Exception as err:  # noqa: BLE001 - any failure is reported below
            attempts.append(
                f"writable root {raw}: idx files present but unreadable ({_one_line(err)}); "
                "delete them to re-extract"
            )
            return None

    md5s = dict(cls.resources)
    problems = {f: _file_problem(raw / f, m) for f, m in md5s.items()}
    missing = [f for f, p in problems.items() if p is not None]
    if missing:
        attempts.append(f"writable root {raw}: {_describe(problems)}")
    for mirror in mirror_dirs():
        if not missing:
            break
        mraw = mirror / cls.__name__ / "raw"
        if not mraw.is_dir():
            attempts.append(f"mirror {mraw}: folder does not exist")
            continue
        problems = {f: _file_problem(mraw / f, md5s[f]) for f in missing}
        for f, problem in problems.items():
            if problem is None:
                _atomic_copy(mraw / f, raw / f)
        missing = [f for f, p in problems.items() if p is not None]
        if missing:
            attempts.append(f"mirror {mraw}: {_describe(problems)}")

    if missing and not download:
        attempts.append("download: not attempted (download=False)")
        return None
    try:
        return read()
    except Exception as err:  # noqa: BLE001
        what = "torchvision download" if missing else "torchvision decompression"
        attempts.append(f"{what} into {raw}: failed ({_one_line(err)})")
        return None


def _load_cifar10(
    train: bool, root: Path, download: bool, attempts: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    from torchvision import datasets

    def read_torchvision(dl: bool) -> tuple[np.ndarray, np.ndarray]:
        ds = datasets.CIFAR10(str(root), train=train, download=dl)
        return np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)

    base = root / "cifar-10-batches-py"
    if base.is_dir():
        try:
            return read_torchvision(False)
        except Exception as err:  # noqa: BLE001
            attempts.append(f"writable root {base}: present but unreadable ({_one_line(err)})")
    else:
        attempts.append(f"writable root {base}: does not exist")

    split = "train" if train else "test"
    for mirror in mirror_dirs():
        path = mirror / "cifar10" / f"cifar10-{split}.npz"
        if not path.is_file():
            attempts.append(f"mirror {path}: missing")
            continue
        with np.load(path) as arrays:
            return arrays["x"].astype(np.uint8, copy=False), arrays["y"].astype(np.int64)

    if not download:
        attempts.append("download: not attempted (download=False)")
        return None
    try:
        return read_torchvision(True)
    except Exception as err:  # noqa: BLE001
        attempts.append(f"torchvision download into {base}: failed ({_one_line(err)})")
        return None


def _resize_square(path: str, size: int) -> np.ndarray:
    """Reads an image as RGB, resized to ``(size, size, 3)`` uint8 (aspect ratio not kept).

    Differs from the original's ``skimage.transform.resize(anti_aliasing=True,
    mode='reflect')``: skimage blurs with a Gaussian (sigma = (scale - 1) / 2)
    and then samples bilinearly, returning floats; PIL's BILINEAR resize is a
    triangle filter stretched by the scale factor (antialiased, like
    torchvision's ``antialias=True``) and we round to uint8. Pixel values
    differ by a few grey levels; the content does not.
    """
    from PIL import Image

    with Image.open(path) as img:
        # convert("RGB") tiles grayscale to 3 channels, as the original does.
        rgb = img.convert("RGB")
    return np.asarray(rgb.resize((size, size), Image.BILINEAR, reducing_gap=None))


def _load_imagenette(
    train: bool, root: Path, download: bool, size: int | None, attempts: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    from torchvision import datasets

    split = "train" if train else "val"
    side = size if size is not None else (156 if train else 128)
    cache = root / "imagenette-cache" / f"imagenette2-{split}-{side}.npz"
    if cache.is_file():
        with np.load(cache) as arrays:
            return arrays["x"], arrays["y"]
    attempts.append(f"writable root {cache}: no cached arrays")

    source = None
    for folder in [root, *mirror_dirs()]:
        if (folder / "imagenette2" / split).is_dir():
            source = folder
            break
        attempts.append(f"{folder / 'imagenette2' / split}: does not exist")
    if source is None and not download:
        attempts.append("download: not attempted (download=False)")
        return None
    try:
        if source is None:
            datasets.Imagenette(str(root), split=split, size="full", download=True)
            source = root
        # loader=str: ds[i] gives (file path, label), sorted by class then file name.
        ds = datasets.Imagenette(str(source), split=split, size="full", download=False, loader=str)
    except Exception as err:  # noqa: BLE001
        attempts.append(f"torchvision Imagenette in {source or root}: failed ({_one_line(err)})")
        return None

    samples = [ds[i] for i in range(len(ds))]
    x = np.stack([_resize_square(p, side) for p, _ in samples])
    y = np.array([label for _, label in samples], dtype=np.int64)
    _atomic_write(cache, lambda f: np.savez(f, x=x, y=y))
    return x, y


def load_arrays(
    name: str,
    train: bool,
    *,
    root: Path | None = None,
    download: bool = True,
    size: int | None = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads one official split as NumPy arrays, in the official order.

    Tries the writable root, then each offline mirror, then (if ``download``)
    torchvision's download; see the module docstring and ``data/README.md``.

    Args:
        name: A key of :data:`DATASETS`.
        train: Training split if True, else the test split (Imagenette: val).
        root: Writable dataset root; default :func:`dataset_root`.
        download: Allow torchvision to download over the network.
        size: Imagenette only: side of the square output images. None means the
            original's sizes, 156 for train and 128 for val.

    Returns:
        Images uint8 ``(N, H, W, C)`` and labels int64 ``(N,)``.

    Raises:
        ValueError: Unknown ``name``.
        DatasetNotFoundError: Nothing worked; the message lists every attempt.
    """
    info = dataset_info(name)
    root = Path(root) if root is not None else dataset_root()
    attempts: list[str] = []
    if name in ("mnist", "fashion_mnist"):
        result = _load_mnist_like(name, train, root, download, attempts)
    elif name == "cifar10":
        result = _load_cifar10(train, root, download, attempts)
    else:
        result = _load_imagenette(train, root, download, size, attempts)
    split = "train" if train else "test"
    if result is None:
        raise _not_found(name, split, root, attempts)

    x, y = result
    expected = info.num_train if train else info.num_test
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) != expected or y.shape != (len(x),):
        raise ValueError(
            f"{name} {split}: got images {x.dtype} {x.shape} and labels {y.shape}, "
            f"expected uint8 ({expected}, H, W, C) and ({expected},); the files are corrupt"
        )
    return x, y


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


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
        mean: float32 ``(C, H, W)`` per-pixel mean of all training images that
            was subtracted everywhere, or None.
        info: The dataset's registry entry.
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: Tensor | None
    info: DatasetInfo


def _to_tensor(x: np.ndarray) -> Tensor:
    """uint8 ``(N, H, W, C)`` -> contiguous float32 ``(N, C, H, W)`` in [0, 1]."""
    chw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    return chw.to(torch.float32).div_(255.0)


def _subset(n: int, k: int | None, seed: int, stream: int, what: str) -> np.ndarray | None:
    """Sorted random subset of ``k`` of ``n`` indices, or None for all."""
    if k is None:
        return None
    if not 1 <= k <= n:
        raise ValueError(f"{what} must be in [1, {n}], got {k}")
    return np.sort(np.random.default_rng([seed, stream]).choice(n, size=k, replace=False))


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
) -> Splits:
    """Loads a dataset and prepares it as in the original ``preprocessing``.

    Steps: uint8 / 255; per-pixel, per-channel mean over ALL official training
    images (if ``pixel_mean``) subtracted from train, val and test (no std
    division); optional random subsets; random val split of the training pool.

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

    Returns:
        The :class:`Splits`.
    """
    info = dataset_info(name)
    if pixel_mean is None:
        pixel_mean = info.pixel_mean
    x_tr, y_tr = load_arrays(name, True, root=root, download=download)
    x_te, y_te = load_arrays(name, False, root=root, download=download)

    mean = None
    if pixel_mean:
        # float64 accumulation over all training images, before any split or subset.
        mean_hwc = x_tr.mean(axis=0, dtype=np.float64) / 255.0
        mean = torch.from_numpy(np.ascontiguousarray(mean_hwc.transpose(2, 0, 1))).float()

    keep = _subset(len(x_tr), train_subset, seed, 1, "train_subset")
    if keep is not None:
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    keep = _subset(len(x_te), test_subset, seed, 2, "test_subset")
    if keep is not None:
        x_te, y_te = x_te[keep], y_te[keep]

    train_idx, val_idx = validation_indices(len(x_tr), val_fraction, seed)
    x_train, x_val = _to_tensor(x_tr[train_idx]), _to_tensor(x_tr[val_idx])
    x_test = _to_tensor(x_te)
    if mean is not None:
        for x in (x_train, x_val, x_test):
            x.sub_(mean)
    return Splits(
        x_train=x_train,
        y_train=torch.from_numpy(y_tr[train_idx]),
        x_val=x_val,
        y_val=torch.from_numpy(y_tr[val_idx]),
        x_test=x_test,
        y_test=torch.from_numpy(np.ascontiguousarray(y_te)),
        mean=mean,
        info=info,
    )


# ---------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------


def _shift_axis(x: Tensor, shift: Tensor, dim: int) -> Tensor:
    """Linear-interpolation shift along ``dim`` (-1 or -2) with edge replication.

    ``out[..., i] = x[..., i - shift]`` where the source position is clamped
    to [0, size - 1], i.e. scipy ``order=1, mode='nearest'``. Integer shifts
    are exact.
    """
    b, n = x.shape[0], x.shape[dim]
    pos = torch.arange(n, device=x.device, dtype=x.dtype)[None, :] - shift[:, None]
    pos = pos.clamp(0, n - 1)
    lo = pos.floor()
    w = pos - lo
    lo = lo.long()
    hi = (lo + 1).clamp(max=n - 1)
    view = (b, 1, 1, n) if dim == -1 else (b, 1, n, 1)
    lo, hi, w = lo.view(view).expand_as(x), hi.view(view).expand_as(x), w.view(view)
    return x.gather(dim, lo) * (1 - w) + x.gather(dim, hi) * w


def translate(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Shifts each image by a (sub-)pixel offset with bilinear interpolation.

    Content moves ``dy`` pixels down and ``dx`` right; the uncovered border
    repeats the edge pixels (Keras ``fill_mode='nearest'``). Equals
    ``F.grid_sample(mode='bilinear', padding_mode='border', align_corners=False)``
    on a translated identity grid, and integer shifts are exact.

    Args:
        x: ``(B, C, H, W)`` floating point.
        dy: ``(B,)`` vertical shifts in pixels.
        dx: ``(B,)`` horizontal shifts in pixels.

    Returns:
        ``(B, C, H, W)``.
    """
    dy = dy.to(device=x.device, dtype=x.dtype)
    dx = dx.to(device=x.device, dtype=x.dtype)
    return _shift_axis(_shift_axis(x, dy, -2), dx, -1)


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    dev = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=dev).to(device)


def shift_flip(
    x: Tensor, shift: float = 0.1, flip: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    """Random shift + horizontal flip per sample (Keras ``ImageDataGenerator``).

    Shifts are uniform in ``±shift·H`` (vertical) and ``±shift·W`` (horizontal),
    continuous, bilinear, edge-filled; then each image is flipped left-right
    with probability 0.5.

    Args:
        x: ``(B, C, H, W)`` floating point, on any device.
        shift: Fraction of the image size (Keras width/height_shift_range).
        flip: Enable the random horizontal flip.
        generator: Optional generator (on CPU or on ``x``'s device) for determinism.

    Returns:
        ``(B, C, H, W)``, a new tensor.
    """
    b, _, h, w = x.shape
    out = x
    if shift > 0:
        dy = (2 * _uniform(b, generator, x.device) - 1) * (shift * h)
        dx = (2 * _uniform(b, generator, x.device) - 1) * (shift * w)
        out = translate(x, dy, dx)
    if flip:
        mask = (_uniform(b, generator, x.device) < 0.5).view(b, 1, 1, 1)
        out = torch.where(mask, out.flip(-1), out)
    return out if out is not x else x.clone()


class ShiftFlip(nn.Module):
    """CIFAR-10 "aug" augmentation as a batch module; identity in eval mode.

    Args:
        shift: Fraction of the image size for the uniform random shifts.
        flip: Enable the random horizontal flip (p = 0.5).
    """

    def __init__(self, shift: float = 0.1, flip: bool = True) -> None:
        super().__init__()
        self.shift = shift
        self.flip = flip

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augments ``x`` ``(B, C, H, W)`` in train mode; returns ``x`` itself in eval mode."""
        if not self.training:
            return x
        return shift_flip(x, self.shift, self.flip, generator)

    def extra_repr(self) -> str:
        return f"shift={self.shift}, flip={self.flip}"


# ---------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------


def iterate_batches(
    x: Tensor,
    y: Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of mini-batches, as Keras ``fit``: fresh shuffle per call, last partial batch kept.

    The tensors are already in memory (possibly on the GPU), so indexing a
    whole batch at once is much faster than a ``DataLoader``'s per-sample
    ``__getitem__`` and collation, and needs no worker processes.

    Args:
        x: ``(N, ...)`` inputs.
        y: ``(N, ...)`` targets.
        batch_size: Batch size; the last batch has ``N mod batch_size`` samples if non-zero.
        shuffle: Draw a new random order (with ``generator``, on CPU) for this epoch.
        generator: Optional CPU generator for the order.

    Yields:
        ``(x_batch, y_batch)`` pairs.
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x has {n} samples but y has {y.shape[0]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not shuffle:
        for start in range(0, n, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx.to(x.device)], y[idx.to(y.device)]
