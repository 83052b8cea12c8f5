"""Where the data sets come from: the registry, a writable root, offline mirrors, torchvision downloads.

Images leave :func:`load_arrays` as uint8 ``(N, H, W, C)`` NumPy arrays in the official
order. Places tried, in order (see ``data/README.md``):

* a writable dataset root, :func:`dataset_root` (env ``TDLIB_DATA``);
* read-only offline mirrors, :func:`mirror_dirs` (env ``TDLIB_DATA_MIRROR``,
  then ``<repo>/../shared/data``);
* torchvision's downloads, on machines with internet access.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..io import atomic_copy, atomic_write_bytes, repo_dir

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
    repo = repo_dir()
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
    repo = repo_dir()
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
                atomic_copy(mraw / f, raw / f)
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
    atomic_write_bytes(cache, lambda f: np.savez(f, x=x, y=y))
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
