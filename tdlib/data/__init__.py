"""Datasets, splits, augmentation and batching, as in the original Keras code.

Modules: :mod:`~tdlib.data.sources` (the registry, local folders, mirrors and downloads),
:mod:`~tdlib.data.splits` (tensors, the optional blur, subsets, validation split, pixel
mean), :mod:`~tdlib.data.augment` (CIFAR-10 shifts and flips), :mod:`~tdlib.data.batching`,
:mod:`~tdlib.data.mesh` (Experiment 3's 2x2 Fashion-MNIST segmentation meshes, their
per-pixel labels and class weights) and :mod:`~tdlib.data.toy` (the thesis' toy set of
2-D cosines, registered as ``toy_cosines``; generated, no files).

Images leave :func:`load_arrays` as uint8 ``(N, H, W, C)`` NumPy arrays in the
official order. :func:`load_splits` turns them into float32 ``(N, C, H, W)``
tensors in [0, 1], optionally blurred (the thesis downscale study) or, for the
training and validation images, Fourier-filtered (the thesis Fourier study), minus the
per-pixel training mean, with the original's non-stratified random validation
split (stratified for ``toy_cosines``). :class:`ShiftFlip` is the
CIFAR-10 "aug" augmentation (Keras ``ImageDataGenerator`` with shift 0.1 and
horizontal flips) on whole batches, and :func:`iterate_batches` is Keras
``fit`` batching.

Where the data come from (see ``data/README.md``):

* a writable dataset root, :func:`dataset_root` (env ``TDLIB_DATA``);
* read-only offline mirrors, :func:`mirror_dirs` (env ``TDLIB_DATA_MIRROR``,
  then ``<repo>/../shared/data``);
* torchvision's downloads, on machines with internet access.
"""


from .augment import ShiftFlip, shift_flip, translate
from .batching import iterate_batches
from .mesh import (
    BACKGROUND,
    IGNORE,
    MESH_INFO,
    class_weights,
    fashion_mnist_mesh,
    load_mesh_splits,
    pixel_labels,
    tile_meshes,
)
from .sources import (
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    dataset_info,
    dataset_root,
    load_arrays,
    mirror_dirs,
)
from .splits import (
    FOURIER_FILTERS,
    Splits,
    blur_images,
    fourier_filter_images,
    load_splits,
    stratified_validation_indices,
    validation_indices,
)
from .toy import TOY_FREQUENCIES, toy_cosines, toy_cosines_split

__all__ = [
    "BACKGROUND",
    "DATASETS",
    "FOURIER_FILTERS",
    "IGNORE",
    "MESH_INFO",
    "TOY_FREQUENCIES",
    "DatasetInfo",
    "DatasetNotFoundError",
    "ShiftFlip",
    "Splits",
    "blur_images",
    "class_weights",
    "dataset_info",
    "dataset_root",
    "fashion_mnist_mesh",
    "fourier_filter_images",
    "iterate_batches",
    "load_arrays",
    "load_mesh_splits",
    "load_splits",
    "mirror_dirs",
    "pixel_labels",
    "shift_flip",
    "stratified_validation_indices",
    "tile_meshes",
    "toy_cosines",
    "toy_cosines_split",
    "translate",
    "validation_indices",
]
