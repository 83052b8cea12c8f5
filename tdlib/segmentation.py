"""Segmentation loss and metrics of Experiment 3 (``shared/reference/experiments.md`` §8).

- :func:`weighted_pixel_cross_entropy`: the original's weighted categorical cross-entropy,
  ``-w_y log p_y`` per pixel, averaged over **all** pixels of the batch. Ignore pixels
  (weight 0) add nothing but still count in the denominator. This is not PyTorch's
  ``cross_entropy(weight=w)`` with mean reduction, which divides by the sum of the
  pixels' weights instead.
- :class:`ConfusionMatrix` and :func:`confusion_matrix`: pixel counts ``(true, predicted)``
  pooled over a whole set, predictions the argmax over all 12 outputs.
- :func:`iou_per_class`: ``IoU_k = TP_k / (TP_k + FP_k + FN_k)`` from the pooled counts
  (not a mean over images), 12 values; ignore pixels stay in the other classes' unions,
  as in the original. :func:`mean_iou` averages the 11 non-ignore classes (background
  included; the paper's mean excludes ignore). :func:`pixel_accuracy` is the share of
  correct pixels, all pixels counted (Keras ``accuracy`` on the one-hot labels).

Where ours differs from the original: the original clips the softmax probabilities to
[1e-7, 1 - 1e-7] before the logarithm; ours takes ``log_softmax`` of the scores, as the
classifiers' loss does. The two differ only for pixels whose probability is below 1e-7.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .data.mesh import IGNORE, NUM_CLASSES


def weighted_pixel_cross_entropy(scores: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """Weighted cross-entropy averaged over every pixel of the batch (ignore pixels included).

    Args:
        scores: Per-pixel scores before the softmax ``(B, K, H, W)``.
        labels: Classes ``(B, H, W)`` in ``0..K-1``.
        weights: Per-class weights ``(K,)`` (the ignore class 0).

    Returns:
        The scalar ``sum_pixels w_y * (-log softmax(scores)_y) / (B * H * W)``.
    """
    if scores.dim() != 4 or labels.shape != (scores.shape[0], *scores.shape[2:]):
        raise ValueError(f"expected scores (B, K, H, W) and labels (B, H, W), got {tuple(scores.shape)} "
                         f"and {tuple(labels.shape)}")
    if weights.shape != (scores.shape[1],):
        raise ValueError(f"expected {scores.shape[1]} class weights, got shape {tuple(weights.shape)}")
    w = weights.to(device=scores.device, dtype=scores.dtype)
    return F.cross_entropy(scores, labels, weight=w, reduction="none").mean()


def confusion_matrix(pred: Tensor, labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """Pixel counts ``M[true, predicted]`` of one batch, int64 ``(K, K)``.

    Args:
        pred: Predicted classes ``(B, H, W)``, or scores ``(B, K, H, W)`` (argmax over ``K``).
        labels: True classes ``(B, H, W)``.
        num_classes: ``K``.
    """
    if pred.dim() == labels.dim() + 1:
        pred = pred.argmax(1)
    if pred.shape != labels.shape:
        raise ValueError(f"predictions {tuple(pred.shape)} and labels {tuple(labels.shape)} differ in shape")
    idx = labels.reshape(-1).to(torch.int64) * num_classes + pred.reshape(-1).to(torch.int64)
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes).cpu()


class ConfusionMatrix:
    """Pooled pixel counts over many batches (a whole test set).

    Example::

        cm = ConfusionMatrix()
        for x, y in batches:
            cm.update(model(x), y)
        cm.iou(), cm.mean_iou(), cm.pixel_accuracy()
    """

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        self.num_classes = num_classes
        self.counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: Tensor, labels: Tensor) -> ConfusionMatrix:
        """Add a batch (scores ``(B, K, H, W)`` or classes ``(B, H, W)``, labels ``(B, H, W)``)."""
        self.counts += confusion_matrix(pred, labels, self.num_classes)
        return self

    def iou(self) -> Tensor:
        """Per-class IoU ``(K,)`` (see :func:`iou_per_class`)."""
        return iou_per_class(self.counts)

    def mean_iou(self, exclude: Sequence[int] = (IGNORE,)) -> float:
        """Mean IoU without the excluded classes (see :func:`mean_iou`)."""
        return mean_iou(self.iou(), exclude)

    def pixel_accuracy(self) -> float:
        """Share of correctly classified pixels."""
        return pixel_accuracy(self.counts)


def iou_per_class(counts: Tensor) -> Tensor:
    """IoU of every class from pooled counts ``M[true, predicted]`` ``(K, K)``.

    Returns:
        float64 ``(K,)``: ``M[k, k] / (row_k + col_k - M[k, k])``; NaN for a class that is
        neither present nor predicted.
    """
    c = counts.to(torch.float64)
    tp = c.diagonal()
    union = c.sum(0) + c.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))


def mean_iou(iou: Tensor, exclude: Sequence[int] = (IGNORE,)) -> float:
    """Mean of the per-class IoU over the classes not excluded (default: all but ignore), NaNs skipped."""
    keep = torch.ones(iou.shape[0], dtype=torch.bool)
    keep[list(exclude)] = False
    return float(iou[keep].nanmean())


def pixel_accuracy(counts: Tensor) -> float:
    """Share of correctly classified pixels, all classes counted, from ``M[true, predicted]``."""
    total = int(counts.sum())
    return float(counts.diagonal().sum()) / total if total else math.nan
