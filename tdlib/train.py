"""Training with the original recipe (``shared/reference/experiments.md`` §5).

- SGD with Nesterov momentum 0.9, batch 128, lr 0.1 divided by 10 at epochs
  ``ceil(0.5 E)`` and ``ceil(0.8 E)`` (Keras ``scheduler_3_stage``, called at the start of
  each 0-based epoch): :func:`lr_at`.
- Keras L2 weight decay: ``wd * sum(w**2)`` added to the loss for conv and dense
  **kernels** only (not biases, not BatchNorm), so the gradient gains ``2 * wd * w``:
  :func:`parameter_groups`.
- A fresh random 10% validation split per repeat, only monitored; the weights after the
  last epoch are evaluated once on the test set.
- CIFAR-10: per-pixel mean of all training images; the "aug" runs add random ±10%
  shifts and horizontal flips (:class:`tdlib.data.ShiftFlip`).
- Segmentation (Experiment 3, dataset ``fashion_mnist_mesh``, models ``fcn``, ``unet``,
  ``td_seg``): lr 0.01, no weight decay, 20 epochs, the class-weighted pixel loss
  (:func:`tdlib.segmentation.weighted_pixel_cross_entropy`, weights from all 15,000
  training meshes) and Keras ``ReduceLROnPlateau`` on the validation loss
  (:class:`PlateauSchedule`: factor 0.2, patience 5, min_delta 1e-4, min_lr lr / 10).
  Accuracies are pixel accuracies; the test set also gets the pooled per-class IoU and
  the mean IoU of the 11 non-ignore classes (:func:`evaluate_segmentation`).
- Thesis downscale study (§3.2.1, §3.2.2): ``TrainConfig.blur_sigma`` blurs every image
  before the mean subtraction; :func:`evaluate_blur_levels` tests one trained network on
  the test images blurred at several sigmas. The toy 2-D cosine set is ``toy_cosines``.
- Thesis Fourier study (§3.2.3): ``TrainConfig.fourier`` and ``fourier_radius`` filter the
  training and validation images (ideal low- or high-pass, radius in cycles per image)
  while the test set stays original; :func:`evaluate_fourier` tests on both the original
  and the filtered test images. ``TrainConfig.td_inputs="fourier_rings"`` feeds a TD
  network Fourier ring bands instead of its blur pyramid.

Where a run differs from the original's:

- The original sets no seeds. Here ``seed`` fixes the validation split, the subsets, the
  initialisation, the batch order, the augmentation and the dropout masks, so the same
  configuration gives the same result on the same CPU.
- ``recalibrate_bn`` (the reduced book profiles only) re-estimates the BatchNorm
  statistics after the last epoch: :func:`recalibrate_batchnorm`.
- An epoch's ``seconds`` is the training pass alone (augmentation included); the
  validation pass is not timed. The original's time is that of the whole Keras ``fit``.
- Speed levers the original graph does not have: the exact merge rewrite (a transposed
  convolution, :class:`tdlib.nets.layers.Merge`), index-free max-pooling and a cheaper
  dropout mask in the layers; channels-last weights where they pay off and the glibc
  allocator setting (:func:`tdlib.speed.prepare_training`); validation and test passes
  on a BatchNorm-folded copy (:func:`evaluate`). Each computes the same function, up to
  float rounding (dropout: the same distribution).
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from .data import (
    ShiftFlip,
    Splits,
    blur_images,
    class_weights,
    dataset_info,
    fashion_mnist_mesh,
    iterate_batches,
    load_arrays,
    load_mesh_splits,
    load_splits,
)
from .data.splits import FOURIER_FILTERS, _check_fourier, fourier_filter_images, pixel_mean_of
from .io import atomic_write_bytes
from .nets import GROW_REGIMES, Growth, GrowthSchedule, count_parameters, get_model
from .provenance import device_name
from .segmentation import ConfusionMatrix, weighted_pixel_cross_entropy
from .speed import predict, prepare_inference, prepare_training

# --- Original hyper-parameters (experiments.md §5) ------------------------------------

#: Epochs of the original command lines: (dataset, model) -> {variant or "*": epochs}.
PAPER_EPOCHS: dict[tuple[str, str], dict[str, int]] = {
    ("mnist", "lenetfc"): {"bu": 50, "*": 30},
    ("mnist", "nin_light"): {"*": 50},
    ("fashion_mnist", "lenetfc"): {"*": 40},
    ("fashion_mnist", "nin_light"): {"*": 50},
    ("cifar10", "nin"): {"*": 100},
    ("cifar10", "resnet32"): {"*": 100},
    ("cifar10_aug", "nin"): {"*": 200},
    ("cifar10_aug", "resnet32"): {"*": 200},
    ("fashion_mnist_mesh", "fcn"): {"*": 20},
    ("fashion_mnist_mesh", "unet"): {"*": 20},
    ("fashion_mnist_mesh", "td_seg"): {"*": 20},
}
#: Keras L2 factor per dataset (the gradient gains 2 * wd * w).
PAPER_WEIGHT_DECAY = {"mnist": 0.0, "fashion_mnist": 0.0, "cifar10": 5e-4, "cifar10_aug": 1e-4,
                      "fashion_mnist_mesh": 0.0}
#: Datasets the thesis gives no settings for, and whose settings (epochs and weight decay per
#: model and variant) they borrow. Our choice: the toy cosines (thesis §3.2.2) are small
#: one-channel images like MNIST, so they train as MNIST does.
PAPER_SETTINGS_FROM = {"toy_cosines": "mnist"}
#: Kernels that carry no L2 in the original code (experiments.md §2.3): BU NIN's final
#: 1x1-10 conv. (The entry convs of LeNetFC's TD models also lack it, but LeNetFC trains
#: with wd = 0, so that exception changes nothing and is not listed.)
NO_DECAY: dict[tuple[str, str], tuple[str, ...]] = {("nin", "bu"): ("head.",)}
#: Grid dataset names: "cifar10_aug" is CIFAR-10 with the shift-and-flip augmentation.
GRID_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar10_aug", "toy_cosines")
#: Segmentation datasets (Experiment 3): the 2x2 Fashion-MNIST meshes of :mod:`tdlib.data.mesh`.
SEG_DATASETS = ("fashion_mnist_mesh",)
#: Settings of the segmentation runs that differ from the classifiers' (experiments.md §5).
PAPER_SEGMENTATION = {"lr": 0.01, "schedule": "plateau", "loss": "weighted_pixel_ce"}
#: Learning-rate schedules: ``step`` (:func:`lr_at`) and ``plateau`` (:class:`PlateauSchedule`).
SCHEDULES = ("step", "plateau")
#: What a TD network's steps receive (``TrainConfig.td_inputs``): the blur pyramid (``single``) or the
#: Fourier ring bands (``fourier_rings``, :func:`tdlib.pyramid.fourier_ring_pyramid`).
TD_INPUTS = ("single", "fourier_rings")
#: Losses: ``ce`` (cross-entropy, per image or per pixel) and ``weighted_pixel_ce``
#: (:func:`tdlib.segmentation.weighted_pixel_cross_entropy` with the class weights of Eq. 1).
LOSSES = ("ce", "weighted_pixel_ce")


def base_dataset(name: str) -> str:
    """The dataset a grid name loads (``cifar10_aug`` -> ``cifar10``)."""
    if name not in GRID_DATASETS + SEG_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(GRID_DATASETS + SEG_DATASETS)}")
    return "cifar10" if name == "cifar10_aug" else name


def paper_epochs(dataset: str, model: str, variant: str) -> int:
    """Epochs of the original command line for this cell (``toy_cosines``: MNIST's, see :data:`PAPER_SETTINGS_FROM`)."""
    source = PAPER_SETTINGS_FROM.get(dataset, dataset)
    try:
        table = PAPER_EPOCHS[(source, model)]
    except KeyError:
        known = ", ".join(f"{d}/{m}" for d, m in PAPER_EPOCHS)
        borrowed = f" ({dataset} uses {source}'s settings)" if source != dataset else ""
        raise ValueError(f"no original epochs for {dataset}/{model}{borrowed}; known cells: {known}") from None
    return table.get(variant, table["*"])


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one training run (its results-cache key).

    Attributes:
        dataset: A grid dataset (``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar10_aug``,
            ``toy_cosines``) or the segmentation meshes (``fashion_mnist_mesh``).
        model: Registry name.
        variant: ``bu``, ``td``, ``uni`` or ``rev``.
        epochs: Training epochs.
        lr: Initial learning rate.
        weight_decay: Keras L2 factor (gradient ``2 * wd * w`` on kernels).
        batch_size: Mini-batch size.
        seed: Seed of everything random; the repeat index in a grid.
        val_fraction: Validation fraction of the training pool.
        train_subset: Random training images kept before the validation split (None: all).
        test_subset: Random test images kept (None: all 10,000).
        widths: TD stage widths override (e.g. ResNet32 TD with a 32-filter last block).
        recalibrate_bn: After the last epoch, re-estimate every BatchNorm's running statistics
            with one pass over the training images (:func:`recalibrate_batchnorm`). Not in the
            original; for short runs only (see that function).
        schedule: ``step`` (the classifiers' 3-stage schedule, :func:`lr_at`) or ``plateau``
            (Keras ``ReduceLROnPlateau`` on the validation loss, :class:`PlateauSchedule`).
        loss: ``ce`` or ``weighted_pixel_ce`` (segmentation only).
        blur_sigma: Every image of train, val and test is blurred with this Gaussian sigma (in
            pixels, zero padding, radius ``ceil(3 sigma)``, :func:`tdlib.pyramid.blur`) before
            the pixel-mean subtraction, whose mean is that of the blurred training images
            (the thesis downscale study, §3.2.1); 0: no blur. Classification datasets only.
        grow: Progressive growing of a TD network (thesis §3.2.4, :mod:`tdlib.nets.progressive`):
            ``none``; ``trainable`` (the coarsest input first, one finer pyramid level added per
            stage, every layer trainable); ``frozen`` (the same, the earlier stages frozen at
            each expansion, :func:`tdlib.nets.freeze_grown`). TD variants only. The ``levels``
            stages share the epochs equally, later stages taking the remainder
            (:class:`tdlib.nets.GrowthSchedule`); the learning-rate schedule runs over the
            whole run as without growth.
        grow_fade: Share of each stage's batches (stages 2 .. levels) over which the new
            input's ``alpha`` rises linearly from 0 to 1, per batch; 0: switched on at once.
            Only with ``grow`` other than ``none``.
        fourier: ``none``, ``lowpass`` or ``highpass`` (thesis §3.2.3, Eq. 3.1): the training and
            validation images are filtered in the Fourier domain (ideal disk filter,
            :func:`tdlib.pyramid.fourier_lowpass` / :func:`~tdlib.pyramid.fourier_highpass`)
            before the pixel-mean subtraction, whose mean is that of the filtered training
            images. The test images stay original, so :func:`train`'s test numbers are on the
            original test set; :func:`evaluate_fourier` adds the filtered test set.
            Classification datasets only; not combined with ``blur_sigma``.
        fourier_radius: The filter's radius in cycles per image (frequency (u, v) kept by the
            low-pass when ``u**2 + v**2 <= radius**2``); > 0 with a filter, 0 without.
        td_inputs: What a TD network's steps receive: ``single`` (the blur pyramid of the
            image) or ``fourier_rings`` (its Fourier ring bands, the inner disk at the coarsest
            step, the outermost ring at full resolution; :func:`tdlib.nets.to_topdown`'s
            ``inputs``). TD variants only.
        ring_radii: Ring radii of ``fourier_rings`` in cycles per image, one fewer than the
            network's pyramid levels (the thesis' (5, 10) for the 3-level networks). Only with
            ``td_inputs="fourier_rings"``.

    :meth:`as_dict` leaves out ``schedule``, ``loss``, ``blur_sigma``, ``grow``, ``grow_fade``,
    ``fourier``, ``fourier_radius``, ``td_inputs`` and ``ring_radii`` at their defaults, so the
    results-cache keys of the classifier runs stay what they were before these fields existed.
    """

    dataset: str
    model: str
    variant: str = "bu"
    epochs: int = 1
    lr: float = 0.1
    weight_decay: float = 0.0
    batch_size: int = 128
    seed: int = 0
    val_fraction: float = 0.1
    train_subset: int | None = None
    test_subset: int | None = None
    widths: tuple[int, ...] | None = None
    recalibrate_bn: bool = False
    schedule: str = "step"
    loss: str = "ce"
    blur_sigma: float = 0.0
    grow: str = "none"
    grow_fade: float = 0.5
    fourier: str = "none"
    fourier_radius: float = 0.0
    td_inputs: str = "single"
    ring_radii: tuple[float, ...] = (5.0, 10.0)

    def __post_init__(self) -> None:
        base_dataset(self.dataset)
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0 and weight_decay >= 0; got {self}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if self.loss == "weighted_pixel_ce" and not self.segmentation:
            raise ValueError(f"loss 'weighted_pixel_ce' needs a segmentation dataset ({', '.join(SEG_DATASETS)})")
        b = self.blur_sigma
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or not math.isfinite(b) or b < 0:
            raise ValueError(f"blur_sigma must be a finite number >= 0 (0: no blur), got {b!r}")
        object.__setattr__(self, "blur_sigma", float(b))
        if self.blur_sigma and self.segmentation:
            raise ValueError(f"blur_sigma applies to the classification datasets only, not {self.dataset!r}")
        if self.grow not in GROW_REGIMES:
            raise ValueError(f"unknown grow {self.grow!r}; expected one of {', '.join(GROW_REGIMES)}")
        if self.grow != "none" and self.variant == "bu":
            raise ValueError("progressive growing (grow) applies to TD variants only, not 'bu'")
        f = self.grow_fade
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 <= f <= 1:
            raise ValueError(f"grow_fade must be a number in [0, 1], got {f!r}")
        object.__setattr__(self, "grow_fade", float(f))
        if self.grow == "none" and self.grow_fade != _KEYLESS_DEFAULTS["grow_fade"]:
            raise ValueError("grow_fade applies only with grow='trainable' or 'frozen'")
        self._check_fourier_fields()

    def _check_fourier_fields(self) -> None:
        """Validate and normalise ``fourier``, ``fourier_radius``, ``td_inputs`` and ``ring_radii``."""
        _check_fourier(self.fourier, self.fourier_radius)
        object.__setattr__(self, "fourier_radius", float(self.fourier_radius))
        if self.fourier != "none" and self.segmentation:
            raise ValueError(f"fourier applies to the classification datasets only, not {self.dataset!r}")
        if self.fourier != "none" and self.blur_sigma:
            raise ValueError("blur_sigma and fourier cannot be combined; choose one")
        if self.td_inputs not in TD_INPUTS:
            raise ValueError(f"unknown td_inputs {self.td_inputs!r}; expected one of {', '.join(TD_INPUTS)}")
        if self.td_inputs != "single" and self.variant == "bu":
            raise ValueError(f"td_inputs={self.td_inputs!r} applies to TD variants only, not 'bu'")
        radii = self.ring_radii
        if isinstance(radii, (str, bytes)) or not isinstance(radii, Sequence) or not all(
                isinstance(r, numbers.Real) and not isinstance(r, bool) and math.isfinite(r) for r in radii):
            raise ValueError(f"ring_radii must be a sequence of finite numbers (cycles per image), got {radii!r}")
        object.__setattr__(self, "ring_radii", tuple(float(r) for r in radii))
        if self.td_inputs != "fourier_rings" and self.ring_radii != _KEYLESS_DEFAULTS["ring_radii"]:
            raise ValueError("ring_radii applies only with td_inputs='fourier_rings'")

    @property
    def segmentation(self) -> bool:
        """A segmentation run (per-pixel labels, pixel accuracy, IoU)."""
        return self.dataset in SEG_DATASETS

    @property
    def augment(self) -> bool:
        """CIFAR-10 "aug": random ±10% shifts and horizontal flips."""
        return self.dataset == "cifar10_aug"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (the results-cache configuration); fields added later are left out at their defaults."""
        d = asdict(self)
        d["widths"] = list(self.widths) if self.widths is not None else None
        for name, default in _KEYLESS_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        if "ring_radii" in d:
            d["ring_radii"] = list(self.ring_radii)
        return d

    @classmethod
    def paper(cls, dataset: str, model: str, variant: str = "bu", **overrides: Any) -> TrainConfig:
        """The original settings of a cell (epochs, weight decay; segmentation: lr, schedule, loss), with overrides.

        ``toy_cosines`` has no settings in the thesis: it takes MNIST's (:data:`PAPER_SETTINGS_FROM`).
        """
        cfg: dict[str, Any] = {"epochs": paper_epochs(dataset, model, variant),
                               "weight_decay": PAPER_WEIGHT_DECAY[PAPER_SETTINGS_FROM.get(dataset, dataset)]}
        if dataset in SEG_DATASETS:
            cfg.update(PAPER_SEGMENTATION)
        cfg.update(overrides)
        return cls(dataset, model, variant, **cfg)


#: Fields that :meth:`TrainConfig.as_dict` leaves out at these defaults (they came after the first cached runs).
_KEYLESS_DEFAULTS: dict[str, Any] = {"schedule": "step", "loss": "ce", "blur_sigma": 0.0, "grow": "none",
                                     "grow_fade": 0.5, "fourier": "none", "fourier_radius": 0.0,
                                     "td_inputs": "single", "ring_radii": (5.0, 10.0)}


def lr_at(epoch: int, epochs: int, lr: float = 0.1) -> float:
    """Learning rate of 0-based ``epoch``: ``lr``, divided by 10 from ``ceil(0.5 E)`` and again from ``ceil(0.8 E)``."""
    drops = (epoch >= math.ceil(0.5 * epochs)) + (epoch >= math.ceil(0.8 * epochs))
    return lr * 0.1**drops


@dataclass
class PlateauSchedule:
    """Keras ``ReduceLROnPlateau`` (mode min, cooldown 0), the segmentation runs' schedule.

    After each epoch, :meth:`step` gets the monitored value (the validation loss). A value
    below ``best - min_delta`` is an improvement; otherwise ``wait`` grows, and when it
    reaches ``patience`` the rate becomes ``max(lr * factor, min_lr)`` (if it is still
    above ``min_lr``) and ``wait`` restarts. Unlike ``torch.optim.lr_scheduler.ReduceLROnPlateau``
    (which reduces after ``patience + 1`` bad epochs), Keras reduces after ``patience``.

    Attributes:
        lr: The current learning rate.
        factor: Multiplier of a reduction.
        patience: Epochs without improvement before a reduction.
        min_delta: Least decrease that counts as an improvement.
        min_lr: Lower bound of the rate.
        best: Best value so far.
        wait: Epochs since the last improvement or reduction.
    """

    lr: float
    factor: float = 0.2
    patience: int = 5
    min_delta: float = 1e-4
    min_lr: float = 0.0
    best: float = math.inf
    wait: int = 0

    @classmethod
    def paper(cls, lr: float) -> PlateauSchedule:
        """The original segmentation setting: factor 0.2, patience 5, min_delta 1e-4, min_lr = lr / 10."""
        return cls(lr, factor=0.2, patience=5, min_delta=1e-4, min_lr=lr / 10)

    def step(self, value: float) -> float:
        """Record one epoch's monitored value; returns the rate of the next epoch."""
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            if self.wait >= self.patience and self.lr > self.min_lr:
                self.lr = max(self.lr * self.factor, self.min_lr)
                self.wait = 0
        return self.lr


def parameter_groups(model: nn.Module, weight_decay: float, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """SGD parameter groups reproducing Keras ``kernel_regularizer=l2(wd)``.

    Keras adds ``wd * sum(w**2)`` to the loss for each regularised kernel; its gradient is
    ``2 * wd * w``, which is torch's ``weight_decay=2 * wd`` on that group. Kernels are the
    parameters named ``*.weight`` with more than one dimension (conv and linear weights);
    biases and BatchNorm parameters get no decay.

    Args:
        model: The network.
        weight_decay: The Keras L2 factor ``wd``.
        exclude: Name prefixes of kernels without the regulariser (see :data:`NO_DECAY`).
    """
    decay, rest = [], []
    for name, p in model.named_parameters():
        kernel = name.endswith("weight") and p.ndim > 1 and not name.startswith(exclude)
        (decay if kernel else rest).append(p)
    return [{"params": decay, "weight_decay": 2.0 * weight_decay}, {"params": rest, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float = 0.1, momentum: float = 0.9, nesterov: bool = True,
                   weight_decay: float = 0.0, exclude: tuple[str, ...] = ()) -> torch.optim.SGD:
    """SGD with Nesterov momentum, as the original code (Keras ``SGD(lr, 0.9, nesterov=True)``)."""
    return torch.optim.SGD(parameter_groups(model, weight_decay, exclude), lr=lr, momentum=momentum,
                           nesterov=nesterov)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
               loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy) -> tuple[Tensor, Tensor]:
    """One SGD step on a batch: the loss of the model's scores, backward, update.

    Args:
        model: In train mode.
        optimizer: Its optimiser.
        x: Images ``(B, C, H, W)``.
        y: Labels ``(B,)``, or per-pixel labels ``(B, H, W)`` for a segmentation network.
        loss_fn: ``loss_fn(scores, y)``, a scalar: cross-entropy, or the weighted pixel loss
            (:func:`loss_function`).

    Returns:
        The loss (a detached scalar tensor) and the detached scores ``(B, classes)`` (segmentation:
        ``(B, classes, H, W)``).
    """
    optimizer.zero_grad(set_to_none=True)
    scores = model(x)
    loss = loss_fn(scores, y)
    loss.backward()
    optimizer.step()
    return loss.detach(), scores.detach()


def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512, fast: bool = True) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` in eval mode on ``(x, y)``; ``model`` is not changed.

    Args:
        model: The network (any mode; its mode and weights are left as they are).
        x: Images ``(N, C, H, W)`` on the model's device.
        y: Labels ``(N,)``.
        batch_size: Evaluation batch size.
        fast: Score with the inference copy of :func:`tdlib.speed.prepare_inference`
            (BatchNorm folded, NHWC where it pays off): the eval-mode scores up to float
            rounding, at less cost. ``False``: the network itself (see :func:`tdlib.speed.predict`).

    Returns:
        ``(loss, accuracy)``; ``(nan, nan)`` for an empty set.
    """
    if x.shape[0] == 0:
        return float("nan"), float("nan")
    return _loss_and_accuracy(predict(model, x, batch_size, fast=fast), y)


def _loss_and_accuracy(scores: Tensor, y: Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of scores ``(N, classes)`` against labels ``(N,)``, N > 0."""
    loss = float(F.cross_entropy(scores, y, reduction="sum"))
    return loss / y.shape[0], int((scores.argmax(1) == y).sum()) / y.shape[0]


def loss_function(config: TrainConfig, weights: Tensor | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss of a configuration: cross-entropy, or the weighted pixel loss with ``weights`` ``(K,)``."""
    if config.loss == "ce":
        return F.cross_entropy
    if weights is None:
        raise ValueError("loss 'weighted_pixel_ce' needs the class weights")
    return partial(weighted_pixel_cross_entropy, weights=weights)


def _correct(scores: Tensor, y: Tensor) -> Tensor:
    """Correct images of a batch; for per-pixel labels, the sum over images of each one's pixel accuracy."""
    hit = scores.argmax(1) == y
    return hit.sum() if y.dim() == 1 else hit.flatten(1).float().mean(1).sum()


@dataclass
class SegmentationScores:
    """What :func:`evaluate_segmentation` measures on one set.

    Attributes:
        loss: The training loss, averaged over every pixel.
        pixel_acc: Share of correctly classified pixels (all 12 classes).
        iou: Per-class IoU pooled over the set, 12 values (NaN: class neither present nor predicted).
        miou: Mean IoU of the 11 non-ignore classes.
    """

    loss: float
    pixel_acc: float
    iou: list[float]
    miou: float


def evaluate_segmentation(model: nn.Module, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor],
                          batch_size: int = 256, fast: bool = True) -> SegmentationScores:
    """Loss, pixel accuracy and pooled IoU of a segmentation network in eval mode; ``model`` is not changed.

    Args:
        model: The network (its mode and weights are left as they are).
        x: Images ``(N, C, H, W)`` on the model's device.
        y: Per-pixel labels ``(N, H, W)``.
        loss_fn: The training loss (:func:`loss_function`), a mean over the batch's pixels.
        batch_size: Images per pass (the scores of a whole set are never held at once).
        fast: Score with the BatchNorm-folded inference copy (see :func:`evaluate`).

    Returns:
        The :class:`SegmentationScores`; NaNs for an empty set.
    """
    n = x.shape[0]
    if n == 0:
        return SegmentationScores(math.nan, math.nan, [math.nan] * 12, math.nan)
    net = prepare_inference(model) if fast else model
    cm = ConfusionMatrix()
    loss = 0.0
    for i in range(0, n, batch_size):
        scores = predict(net, x[i : i + batch_size], batch_size, fast=fast)
        yb = y[i : i + batch_size]
        loss += float(loss_fn(scores, yb)) * yb.shape[0]
        cm.update(scores, yb)
    return SegmentationScores(loss / n, cm.pixel_accuracy(), cm.iou().tolist(), cm.mean_iou())


def recalibrate_batchnorm(model: nn.Module, x: Tensor, batch_size: int = 512, channels_last: bool = False) -> None:
    """Replace every BatchNorm's running statistics by their average over ``x`` (train mode, no grad).

    Why: the original keeps Keras' BN momentum 0.99 (torch ``momentum=0.01``), so the running
    variance starts at 1 and moves 1 % per step. With the original 30 to 200 epochs that is
    irrelevant. In a run of a few hundred steps it is not: on NIN-light TD after 56 steps the
    running variance of the first BN was still ~100x the true one, and eval-mode accuracy was
    at chance while training accuracy was 73 %. Uses ``torch.optim.swa_utils.update_bn``
    (cumulative average over batches); dropout is active as during training.

    Args:
        model: The network (its mode is restored afterwards).
        x: Training images ``(N, C, H, W)`` on the model's device.
        batch_size: Batch size of the pass.
        channels_last: Feed NHWC batches.
    """
    from torch.optim.swa_utils import update_bn

    batches = (x[i : i + batch_size] for i in range(0, x.shape[0], batch_size))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    update_bn((b.contiguous(memory_format=fmt) for b in batches), model)


@dataclass
class TrainResult:
    """What one training run produced.

    Attributes:
        config: The configuration.
        history: One row per epoch: ``epoch, lr, train_loss, train_acc, val_loss, val_acc, seconds``
            (``seconds``: training time of the epoch, without validation); segmentation runs add
            ``val_miou``, and their accuracies are pixel accuracies. Growing runs
            (``config.grow``) add ``stage`` (1 .. levels) and ``alpha`` (the new input's
            fade-in at the epoch's last batch, the state validation ran with).
        curve: The training loss and accuracy within epochs: one row per ``1/points_per_epoch``
            of an epoch, ``epoch`` fractional (a learning curve even for one-epoch runs);
            growing runs add ``stage`` and ``alpha`` at each point.
        test_loss: Test loss of the last-epoch weights.
        test_acc: Test accuracy of the last-epoch weights.
        params: Trainable parameters.
        device: Where it ran.
        model: The trained network (eval mode).
        test_iou: Segmentation: the per-class IoU on the test set, pooled (12 values); else None.
        test_miou: Segmentation: the mean IoU of the 11 non-ignore classes; else None.
    """

    config: TrainConfig
    history: pd.DataFrame
    curve: pd.DataFrame
    test_loss: float
    test_acc: float
    params: int
    device: str
    model: nn.Module = field(repr=False)
    test_iou: list[float] | None = None
    test_miou: float | None = None

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training time per epoch."""
        return float(self.history.seconds.mean())

    def summary(self) -> dict[str, Any]:
        """One tidy row: the configuration's cell and the headline numbers."""
        c = self.config
        row = {"dataset": c.dataset, "model": c.model, "variant": c.variant, "widths": c.as_dict()["widths"],
               "repeat": c.seed, "epochs": c.epochs, "test_acc": self.test_acc, "test_loss": self.test_loss,
               "val_acc": float(self.history.val_acc.iloc[-1]), "seconds_per_epoch": self.seconds_per_epoch,
               "params": self.params, "device": self.device}
        if self.test_iou is not None:
            row.update(test_miou=self.test_miou, test_iou=self.test_iou)
        return row


def image_counts(dataset: str, train_subset: int | None = None, test_subset: int | None = None,
                 val_fraction: float = 0.1) -> tuple[int, int]:
    """Training images per epoch (the pool minus its validation split) and test images of a classifier run."""
    info = dataset_info(base_dataset(dataset))
    pool = info.num_train if train_subset is None else min(train_subset, info.num_train)
    test = info.num_test if test_subset is None else min(test_subset, info.num_test)
    return pool - math.ceil(val_fraction * pool - 1e-9), test


def build_model(config: TrainConfig) -> nn.Module:
    """The network of a configuration, at the dataset's channels and classes.

    Classifiers get the dataset's ``in_channels`` and ``num_classes`` from the registry (for
    the paper's model/dataset pairs these are the models' defaults, so those networks are
    unchanged); segmentation networks keep their own. ``td_inputs="fourier_rings"`` builds the
    TD network with ``inputs="fourier_rings"`` and ``config.ring_radii``.
    """
    cfg: dict[str, Any] = {}
    if not config.segmentation:
        info = dataset_info(base_dataset(config.dataset))
        cfg.update(in_channels=info.shape[0], num_classes=info.num_classes)
    if config.widths is not None:
        if config.variant == "bu":
            raise ValueError("widths applies to TD variants only")
        cfg["widths"] = tuple(config.widths)
    if config.td_inputs != "single":
        cfg.update(inputs=config.td_inputs, ring_radii=config.ring_radii)
    return get_model(config.model, config.variant, **cfg)  # type: ignore[arg-type]


def load_data(config: TrainConfig, device: torch.device) -> Splits:
    """The splits of a configuration (split and subsets seeded by ``config.seed``), on ``device``.

    Classifiers: :func:`tdlib.data.load_splits`, every image blurred with ``config.blur_sigma``,
    the training and validation images Fourier-filtered as ``config.fourier`` (the test images
    stay original). Segmentation: the meshes of :func:`tdlib.data.load_mesh_splits` (built with seed 0, the
    validation split drawn with ``config.seed``).
    """
    if config.segmentation:
        s = load_mesh_splits(seed=config.seed, val_fraction=config.val_fraction,
                             train_subset=config.train_subset, test_subset=config.test_subset)
    else:
        s = load_splits(base_dataset(config.dataset), seed=config.seed, val_fraction=config.val_fraction,
                        train_subset=config.train_subset, test_subset=config.test_subset,
                        blur_sigma=config.blur_sigma, fourier=config.fourier,
                        fourier_radius=config.fourier_radius)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        setattr(s, name, getattr(s, name).to(device))
    return s


class TrainingStopped(RuntimeError):
    """A run stopped on request (``train(..., stop=)``) after saving its state to its checkpoint;
    the same call resumes it there."""

    def __init__(self, checkpoint: Path, epochs_done: float) -> None:
        super().__init__(f"stopped on request after {epochs_done:.2f} epochs; state saved to {checkpoint}, "
                         "the same run resumes there")
        self.checkpoint, self.epochs_done = checkpoint, epochs_done


def train(config: TrainConfig, device: str | torch.device | None = None, progress: bool = True,
          on_epoch: Callable[[dict[str, Any]], None] | None = None, points_per_epoch: int = 10,
          checkpoint: Path | None = None, checkpoint_every: float | None = 600.0,
          stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train one network with the original recipe and evaluate it once on the test set.

    Args:
        config: The run.
        device: ``cpu``, ``cuda``, ...; default CUDA when available.
        progress: Show a tqdm bar per epoch.
        on_epoch: Called with each epoch's history row (e.g. to log).
        points_per_epoch: Points of the within-epoch training curve.
        checkpoint: A file to save the run's state to after every epoch (atomically) and to
            resume from when it exists: a run killed after epoch k restarts at epoch k + 1
            (or within it, see ``checkpoint_every``) and ends with the same weights and history
            as an uninterrupted one (the random generators are part of the state; a growing
            run's stage and alpha follow from the epoch and batch). Deleted when the run ends. ``None``: no checkpoints.
        checkpoint_every: Also save the state within an epoch, at the first batch boundary after
            this many seconds since the last save, so a killed run of long epochs (a paper-scale
            U-net epoch is ~20 minutes on one CPU core) loses at most this much; the resumed run
            still ends as an uninterrupted one. ``None``: only at the end of each epoch.
        stop: Asked after every batch (keep it cheap, e.g.
            :class:`tdlib.book.results.StopRequest`); when it returns True the run saves its
            state to ``checkpoint`` and raises :class:`TrainingStopped`, so a stop loses nothing.
            Needs ``checkpoint``.

    Returns:
        The :class:`TrainResult`.

    Raises:
        TrainingStopped: ``stop`` asked the run to stop; its state is in ``checkpoint``.
    """
    if stop is not None and checkpoint is None:
        raise ValueError("stop needs a checkpoint to save the run's state to")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    data = load_data(config, dev)
    # Eq. 1 weights from all 15,000 training meshes (validation part included), as the original.
    weights = class_weights(fashion_mnist_mesh("train")[1]).to(dev) if config.loss == "weighted_pixel_ce" else None
    loss_fn = loss_function(config, weights)
    torch.manual_seed(config.seed)
    model = build_model(config).to(dev)
    channels_last = prepare_training(model)
    optimizer = make_optimizer(model, config.lr, weight_decay=config.weight_decay,
                               exclude=NO_DECAY.get((config.model, config.variant), ()))
    order = torch.Generator().manual_seed(config.seed)
    aug_gen = torch.Generator(device=dev).manual_seed(config.seed) if config.augment else None
    augment = ShiftFlip().train() if config.augment else None
    plateau = PlateauSchedule.paper(config.lr) if config.schedule == "plateau" else None
    growth = None
    if config.grow != "none":  # progressive growing: the stage follows from the epoch, alpha from the batch
        batches_per_epoch = max(1, math.ceil(data.x_train.shape[0] / config.batch_size))
        growth = Growth(model, config.grow,  # type: ignore[arg-type]
                        GrowthSchedule(config.epochs, model.levels, config.grow_fade, batches_per_epoch))
    rows: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    start, mid = 0, None
    if checkpoint is not None and checkpoint.is_file():
        start, mid = _resume(checkpoint, config, model, optimizer, order, aug_gen, rows, curve, plateau)
    label = f"{config.dataset}/{config.model}/{config.variant}#{config.seed}"
    last_save = time.monotonic()

    def zero() -> Tensor:  # a fresh one each time: the part sums are added to in place
        return torch.zeros((), device=dev)

    for epoch in range(start, config.epochs):
        lr = plateau.lr if plateau is not None else lr_at(epoch, config.epochs, config.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        if mid is not None:  # resumed within this epoch: replay its order, skip the batches done
            order.set_state(mid["epoch_order"])
        epoch_order = order.get_state()
        batches = iterate_batches(data.x_train, data.y_train, config.batch_size, shuffle=True, generator=order)
        total = math.ceil(data.x_train.shape[0] / config.batch_size)
        marks = {math.ceil(total * k / points_per_epoch) for k in range(1, points_per_epoch + 1)}
        loss_sum, correct, seen, part_loss, part_correct, part_seen = zero(), zero(), 0, zero(), zero(), 0
        done, t0 = 0, time.perf_counter()
        if mid is not None:
            done, t0 = mid["step"], t0 - mid["seconds"]
            loss_sum, correct, seen, part_loss, part_correct, part_seen = (
                v.to(dev) if isinstance(v, Tensor) else v for v in mid["sums"])
            batches = itertools.islice(batches, done, None)
            mid = None
        for step, (xb, yb) in enumerate(tqdm(batches, total=total, initial=done, disable=not progress, leave=False,
                                             desc=f"{label} epoch {epoch + 1}/{config.epochs}"), start=done + 1):
            if augment is not None:
                xb = augment(xb, aug_gen)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if growth is not None:
                growth.follow(epoch, step - 1)
            loss, scores = train_step(model, optimizer, xb, yb, loss_fn)
            part_loss += loss * yb.shape[0]
            part_correct += _correct(scores, yb)
            part_seen += yb.shape[0]
            if step in marks:  # one point of the within-epoch curve (syncs a GPU ~10 times per epoch)
                curve.append({"epoch": epoch + step / total, "train_loss": float(part_loss) / part_seen,
                              "train_acc": float(part_correct) / part_seen, **_growth_columns(growth)})
                loss_sum, correct, seen = loss_sum + part_loss, correct + part_correct, seen + part_seen
                part_loss, part_correct, part_seen = zero(), zero(), 0
            stopping = stop is not None and stop()
            if checkpoint is not None and (stopping or (checkpoint_every is not None and step < total
                                                        and time.monotonic() - last_save >= checkpoint_every)):
                sums = [v.cpu() if isinstance(v, Tensor) else v
                        for v in (loss_sum, correct, seen, part_loss, part_correct, part_seen)]
                # at step == total (a stop after the last batch) the resumed epoch skips every batch
                _save_checkpoint(checkpoint, config, epoch, model, optimizer, order, aug_gen, rows, curve, plateau,
                                 mid={"step": step, "steps": total, "epoch_order": epoch_order, "sums": sums,
                                      "seconds": time.perf_counter() - t0})
                last_save = time.monotonic()
                if stopping:
                    raise TrainingStopped(checkpoint, epoch + step / total)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - t0
        extra: dict[str, Any] = {}
        if config.segmentation:
            val = evaluate_segmentation(model, data.x_val, data.y_val, loss_fn)
            val_loss, val_acc, extra["val_miou"] = val.loss, val.pixel_acc, val.miou
        else:
            val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": float(loss_sum) / seen, "train_acc": float(correct) / seen,
               "val_loss": val_loss, "val_acc": val_acc, "seconds": seconds, **extra, **_growth_columns(growth)}
        rows.append(row)
        if plateau is not None:
            plateau.step(val_loss)
        if checkpoint is not None and epoch + 1 < config.epochs:
            _save_checkpoint(checkpoint, config, epoch + 1, model, optimizer, order, aug_gen, rows, curve, plateau)
            last_save = time.monotonic()
        if on_epoch is not None:
            on_epoch(row)
    if growth is not None:  # fully grown (alpha = 1) by now: back to the plain network, all trainable
        growth.remove()
    if config.recalibrate_bn:
        recalibrate_batchnorm(model, data.x_train, channels_last=channels_last)
    test_iou = test_miou = None
    if config.segmentation:
        test = evaluate_segmentation(model, data.x_test, data.y_test, loss_fn)
        test_loss, test_acc, test_iou, test_miou = test.loss, test.pixel_acc, test.iou, test.miou
    else:
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    model = model.to(memory_format=torch.contiguous_format)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return TrainResult(config, pd.DataFrame(rows), pd.DataFrame(curve), test_loss, test_acc, count_parameters(model),
                       device_name(str(dev)), model.eval(), test_iou, test_miou)


def _growth_columns(growth: Growth | None) -> dict[str, Any]:
    """``stage`` and ``alpha`` of a growing run (at the last batch so far) for its history rows; else nothing."""
    return {} if growth is None else {"stage": growth.stage, "alpha": growth.alpha}


@dataclass
class _TestImages:
    """The test images of a trained classifier's run, ready to be re-tested under other filters.

    Attributes:
        x: ``(N, C, H, W)`` float32 on the CPU, in [0, 1], unfiltered and without the mean: the
            images :func:`train` tested on (same ``test_subset``, drawn with ``config.seed``).
        y: Labels ``(N,)`` on the evaluation device.
        mean: The training mean the model was trained with, ``(C, H, W)``, or None.
        num_classes: Classes of the dataset.
        net: The BatchNorm-folded inference copy of the model on the evaluation device.
        device: The evaluation device.
    """

    x: Tensor
    y: Tensor
    mean: Tensor | None
    num_classes: int
    net: nn.Module
    device: torch.device

    def score(self, x: Tensor, batch_size: int) -> dict[str, Any]:
        """Loss, accuracy and predicted-class counts on ``x`` (a filtered copy of :attr:`x`, overwritten).

        The same steps as :func:`tdlib.data.load_splits` (filter on the CPU, then the mean), so
        the images :func:`train` tested on give its test numbers exactly.
        """
        if self.mean is not None:
            x.sub_(self.mean)
        scores = predict(self.net, x.to(self.device), batch_size, fast=True)
        loss, acc = _loss_and_accuracy(scores, self.y) if self.y.shape[0] else (math.nan, math.nan)
        counts = torch.bincount(scores.argmax(1), minlength=self.num_classes).tolist()
        return {"loss": loss, "acc": acc, "pred_counts": counts}


def _test_images(model: nn.Module, config: TrainConfig, device: str | torch.device | None, what: str) -> _TestImages:
    """The test images of ``config`` and the inference copy of ``model`` (on ``device``, default the model's)."""
    if config.segmentation:
        raise ValueError(f"{what} needs a classification dataset, got {config.dataset!r}")
    first = next(model.parameters(), None)
    here = first.device if first is not None else torch.device("cpu")
    dev = torch.device(device) if device is not None else here
    if dev != here:
        model = copy.deepcopy(model).to(dev)
    name = base_dataset(config.dataset)
    info = dataset_info(name)
    # The test images as load_splits makes them for train(), unfiltered and without the mean
    # (train_subset=1: the test subset does not depend on the training subset).
    raw = load_splits(name, seed=config.seed, val_fraction=0.0, pixel_mean=False, train_subset=1,
                      test_subset=config.test_subset)
    mean = (pixel_mean_of(load_arrays(name, True)[0], config.blur_sigma, config.fourier, config.fourier_radius)
            if info.pixel_mean else None)
    return _TestImages(raw.x_test, raw.y_test.to(dev), mean, info.num_classes, prepare_inference(model), dev)


def evaluate_blur_levels(model: nn.Module, config: TrainConfig, sigmas: Sequence[float],
                         device: str | torch.device | None = None, batch_size: int = 512) -> pd.DataFrame:
    """Test one trained classifier on its test images blurred at each sigma (thesis downscale study).

    The test images are those :func:`train` tested on (the same ``test_subset``, drawn with
    ``config.seed``), in [0, 1], blurred with ``sigma`` (:func:`tdlib.pyramid.blur`, zero
    padding; 0: unblurred), minus the training mean the model was trained with: the
    per-pixel mean of the official training images blurred at ``config.blur_sigma`` (or
    filtered as ``config.fourier``; nothing for datasets without a pixel mean). Training
    images are not blurred again: the model is not retrained. The row with
    ``sigma == config.blur_sigma`` equals :func:`train`'s test evaluation. Scores come from
    the BatchNorm-folded inference copy, as in :func:`evaluate`.

    Args:
        model: The trained network (its mode and weights are left as they are).
        config: The configuration it was trained with (a classification dataset).
        sigmas: Test blur sigmas in pixels (each >= 0), e.g. :func:`tdlib.pyramid.blur_sigmas`.
        device: Where to evaluate; default the model's device. A model elsewhere is copied there.
        batch_size: Evaluation batch size.

    Returns:
        One row per sigma, in the given order: ``test_sigma``, ``test_loss``, ``test_acc`` and
        ``pred_counts`` (list of ``num_classes`` ints: test images predicted as each class).
    """
    if config.segmentation:
        raise ValueError(f"evaluate_blur_levels needs a classification dataset, got {config.dataset!r}")
    sigmas = [float(s) for s in sigmas]
    for s in sigmas:
        if not math.isfinite(s) or s < 0:
            raise ValueError(f"every sigma must be a finite number >= 0 (0: no blur), got {s!r} in {sigmas}")
    test = _test_images(model, config, device, "evaluate_blur_levels")
    rows = []
    for sigma in sigmas:
        r = test.score(blur_images(test.x.clone(), sigma), batch_size)
        rows.append({"test_sigma": sigma, "test_loss": r["loss"], "test_acc": r["acc"],
                     "pred_counts": r["pred_counts"]})
    return pd.DataFrame(rows, columns=["test_sigma", "test_loss", "test_acc", "pred_counts"])


def evaluate_fourier(model: nn.Module, config: TrainConfig, device: str | torch.device | None = None,
                     batch_size: int = 512, *, fourier: str | None = None,
                     fourier_radius: float | None = None) -> dict[str, Any]:
    """Test one trained classifier on the original and on the Fourier-filtered test set (thesis §3.2.3).

    The test images are those :func:`train` tested on (same ``test_subset``, drawn with
    ``config.seed``), in [0, 1]: once as they are (the thesis tests on the original test
    set; equal to :func:`train`'s test numbers) and once filtered as the training images
    were (``config.fourier`` at ``config.fourier_radius`` cycles per image, or the filter
    given here), each minus the training mean the model was trained with (the mean of the
    filtered official training images). Scores come from the BatchNorm-folded inference
    copy, as in :func:`evaluate`.

    Args:
        model: The trained network (its mode and weights are left as they are).
        config: The configuration it was trained with (a classification dataset).
        device: Where to evaluate; default the model's device. A model elsewhere is copied there.
        batch_size: Evaluation batch size.
        fourier: The test filter, ``lowpass`` or ``highpass``, to override ``config.fourier``
            (e.g. to test a network trained on original images); give ``fourier_radius`` too.
        fourier_radius: Its radius in cycles per image (> 0).

    Returns:
        ``test_loss_original``, ``test_acc_original``, ``test_loss_filtered``,
        ``test_acc_filtered``, ``pred_counts_original`` and ``pred_counts_filtered`` (lists of
        ``num_classes`` ints), and the test filter: ``fourier``, ``fourier_radius``.
    """
    if (fourier is None) != (fourier_radius is None):
        raise ValueError("evaluate_fourier: give both fourier and fourier_radius, or neither (the config's filter)")
    kind, radius = (config.fourier, config.fourier_radius) if fourier is None else (fourier, fourier_radius)
    _check_fourier(kind, radius)  # type: ignore[arg-type]
    if kind == "none":
        raise ValueError("evaluate_fourier needs a Fourier filter: a config with fourier='lowpass' or 'highpass', "
                         f"or the fourier and fourier_radius arguments (one of {', '.join(FOURIER_FILTERS[1:])})")
    test = _test_images(model, config, device, "evaluate_fourier")
    original = test.score(test.x.clone(), batch_size)
    filtered = test.score(fourier_filter_images(test.x.clone(), kind, float(radius)), batch_size)  # type: ignore[arg-type]
    return {"test_loss_original": original["loss"], "test_acc_original": original["acc"],
            "test_loss_filtered": filtered["loss"], "test_acc_filtered": filtered["acc"],
            "pred_counts_original": original["pred_counts"], "pred_counts_filtered": filtered["pred_counts"],
            "fourier": kind, "fourier_radius": float(radius)}  # type: ignore[arg-type]


def _save_checkpoint(path: Path, config: TrainConfig, epochs_done: int, model: nn.Module,
                     optimizer: torch.optim.Optimizer, order: torch.Generator, aug_gen: torch.Generator | None,
                     rows: list[dict[str, Any]], curve: list[dict[str, Any]],
                     plateau: PlateauSchedule | None = None, mid: dict[str, Any] | None = None) -> None:
    """Everything :func:`train` needs to continue after ``epochs_done`` epochs, written atomically.

    ``mid``: saved within the next epoch: ``step`` batches of ``steps`` done, the order
    generator's state at the epoch's start (``epoch_order``), the running sums and ``seconds``.
    """
    state = {"config": config.as_dict(), "epochs_done": epochs_done,
             "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "optimizer": optimizer.state_dict(), "order": order.get_state(),
             "aug": aug_gen.get_state() if aug_gen is not None else None,
             "torch_rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
             "rows": rows, "curve": curve, "mid": mid,
             "device": device_name(str(next(model.parameters()).device))}
    if plateau is not None:
        state["plateau"] = asdict(plateau)
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def _resume(path: Path, config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
            order: torch.Generator, aug_gen: torch.Generator | None, rows: list[dict[str, Any]],
            curve: list[dict[str, Any]], plateau: PlateauSchedule | None = None) -> tuple[int, dict[str, Any] | None]:
    """Load a checkpoint of :func:`_save_checkpoint` into the run's objects.

    Returns:
        The next epoch and, for a checkpoint saved within it, its ``mid`` state (else None).
    """
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("config") != config.as_dict():
        raise ValueError(f"checkpoint {path} belongs to another run ({state.get('config')}); "
                         f"delete it to start {config} afresh")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    order.set_state(state["order"])
    if aug_gen is not None:
        aug_gen.set_state(state["aug"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if plateau is not None:
        for name, value in state["plateau"].items():
            setattr(plateau, name, value)
    rows.extend(state["rows"])
    curve.extend(state["curve"])
    return int(state["epochs_done"]), state.get("mid")  # no "mid": a checkpoint of an older revision


def save_weights(model: nn.Module, path: Path, half: bool = False) -> Path:
    """Save a state dict atomically (temporary file, then rename).

    Args:
        model: The network.
        path: Target ``.pt`` file.
        half: Store floating tensors as float16 (half the size; :func:`load_weights` restores float32).
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    atomic_write_bytes(path, lambda f: torch.save(state, f))
    return path


def load_weights(config: TrainConfig, path: Path, device: str | torch.device = "cpu") -> nn.Module:
    """The network of ``config`` with the weights saved at ``path`` (eval mode)."""
    model = build_model(config)
    state = torch.load(path, map_location="cpu", weights_only=True)
    reference = model.state_dict()
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    return model.to(device).eval()


def train_config(config: Mapping[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` of a results-cache configuration (the inverse of :meth:`TrainConfig.as_dict`).

    Keys that are not fields of a training run (e.g. the downscale study's ``test_sigmas``) must be
    removed first.

    Raises:
        ValueError: Unknown keys, or a configuration that does not round-trip through ``as_dict``.
    """
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValueError(f"not fields of a training run: {', '.join(unknown)}")
    values = dict(config)
    if values.get("widths") is not None:
        values["widths"] = tuple(values["widths"])
    if "ring_radii" in values:
        values["ring_radii"] = tuple(values["ring_radii"])
    cfg = TrainConfig(**values)
    if cfg.as_dict() != _listed(config):
        raise ValueError(f"configuration {dict(config)!r} does not round-trip through TrainConfig")
    return cfg


def _listed(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with tuples as lists, as :meth:`TrainConfig.as_dict` writes them."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
