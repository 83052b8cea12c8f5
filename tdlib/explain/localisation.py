"""How well heatmaps localise objects: the paper's IoU (§5, Figure 10) and threshold-free scores.

- :func:`localisation_iou`: IoU of ``heatmap > thr`` with the object mask ``image > 0.2``
  for each ``thr`` in {0.0, ..., 0.4}. The paper does not say how it averaged
  (experiments.md §7: "not recoverable"), so both readings are here: ``"mean_per_image"``
  (the IoU of each image, then the mean) and ``"pooled"`` (intersections and unions summed
  over all images, then one ratio, as the segmentation IoU of §8 is computed).
  Thresholds are strict (``>``), as the object mask's; ``strict=False`` gives ``>=``.
- :func:`energy_share`: beyond the paper, a score with no threshold to choose: the share of
  a heatmap's total mass inside the object mask (the "energy-based pointing game" of
  Score-CAM, Wang et al. 2020). 1 means all of it is on the object; a heatmap spread
  uniformly scores the object's share of the image (:func:`object_mask` ``.mean``).
- :func:`mesh_energy`: for 2x2 meshes of four images (:mod:`tdlib.data.mesh`), the share of
  the heatmap's mass on the objects of the explained class, on the other objects and off
  the objects, per quadrant, and how evenly it is spread over several objects of the
  class (the paper's "localises multiple objects more consistently", Figure 9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ..data.mesh import pixel_labels, tile_meshes

#: Heatmap thresholds of the paper's Figure 10.
THRESHOLDS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4)
#: Object mask threshold on [0, 1] images (paper §5: "empirically set to t = 0.2").
OBJECT_THRESHOLD = 0.2
Reduce = Literal["mean_per_image", "pooled", "none"]
REDUCES: tuple[str, ...] = ("mean_per_image", "pooled", "none")


def object_mask(images: Tensor, object_threshold: float = OBJECT_THRESHOLD) -> Tensor:
    """Object pixels ``image > object_threshold`` of single-channel images.

    Args:
        images: ``(N, H, W)`` or ``(N, 1, H, W)`` in [0, 1], or a boolean mask (returned as ``(N, H, W)``).

    Raises:
        ValueError: Other shapes, or several channels (the paper's IoU is on grey images).
    """
    if not isinstance(images, Tensor):
        raise ValueError(f"expected a tensor of images, got {type(images).__name__}")
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected single-channel images (N, 1, H, W) or (N, H, W), or a boolean mask; "
                             f"got shape {tuple(images.shape)}")
        images = images[:, 0]
    if images.dim() != 3:
        raise ValueError(f"expected images (N, H, W) or (N, 1, H, W), got shape {tuple(images.shape)}")
    return images if images.dtype == torch.bool else images > object_threshold


def _check_heat(heatmaps: Tensor, mask: Tensor) -> None:
    if not isinstance(heatmaps, Tensor) or heatmaps.dim() != 3:
        shape = tuple(heatmaps.shape) if isinstance(heatmaps, Tensor) else type(heatmaps).__name__
        raise ValueError(f"expected heatmaps (N, H, W), got {shape}")
    if heatmaps.shape != mask.shape:
        raise ValueError(f"heatmaps {tuple(heatmaps.shape)} and images {tuple(mask.shape)} differ in shape; "
                         "resize the heatmaps to the image first (grad_cam does)")


def localisation_iou(heatmaps: Tensor, images: Tensor, thresholds: Sequence[float] = THRESHOLDS,
                     object_threshold: float = OBJECT_THRESHOLD, reduce: Reduce = "mean_per_image",
                     strict: bool = True) -> Tensor:
    """IoU of the heatmap mask with the object mask, per threshold (paper §5, Figure 10).

    Args:
        heatmaps: ``(N, H, W)`` in [0, 1] (:func:`~tdlib.explain.grad_cam`).
        images: ``(N, H, W)`` or ``(N, 1, H, W)`` in [0, 1], or a boolean object mask.
        thresholds: Heatmap thresholds ``thr``: heatmap mask ``heat > thr``.
        object_threshold: Object mask ``image > object_threshold``.
        reduce: ``"mean_per_image"``: the mean over images of each image's IoU (images whose
            two masks are both empty, IoU 0/0, are left out of the mean); ``"pooled"``:
            ``sum |A and B| / sum |A or B|`` over all images; ``"none"``: the ``(N, T)`` IoUs
            (NaN where both masks are empty).
        strict: ``heat > thr`` (default); ``False``: ``heat >= thr``.

    Returns:
        ``(T,)`` IoUs in [0, 1], one per threshold (``(N, T)`` with ``reduce="none"``).

    Raises:
        ValueError: Unknown ``reduce``, or shapes that do not match.
    """
    if reduce not in REDUCES:
        raise ValueError(f"unknown reduce {reduce!r}; expected one of {', '.join(REDUCES)}")
    mask = object_mask(images, object_threshold)
    _check_heat(heatmaps, mask)
    thr = torch.as_tensor(list(thresholds), dtype=heatmaps.dtype, device=heatmaps.device).view(1, -1, 1, 1)
    if thr.numel() == 0:
        raise ValueError("no threshold given")
    heat = heatmaps.unsqueeze(1)
    hot = heat > thr if strict else heat >= thr                        # (N, T, H, W)
    obj = mask.to(heatmaps.device).unsqueeze(1)
    inter = (hot & obj).flatten(2).sum(2).double()                      # (N, T)
    union = (hot | obj).flatten(2).sum(2).double()
    if reduce == "pooled":
        return (inter.sum(0) / union.sum(0)).to(heatmaps.dtype)
    iou = inter / union                                                 # NaN where both are empty
    if reduce == "none":
        return iou.to(heatmaps.dtype)
    return iou.nanmean(0).to(heatmaps.dtype)


def energy_share(heatmaps: Tensor, images: Tensor, object_threshold: float = OBJECT_THRESHOLD) -> Tensor:
    """Share of each heatmap's mass inside the object mask: ``sum(heat * mask) / sum(heat)``.

    Threshold-free (no ``thr``), per image. NaN for an all-zero heatmap.

    Args:
        heatmaps: ``(N, H, W)``, non-negative.
        images: ``(N, H, W)`` or ``(N, 1, H, W)`` in [0, 1], or a boolean object mask.
        object_threshold: Object mask ``image > object_threshold``.

    Returns:
        ``(N,)`` shares in [0, 1].
    """
    mask = object_mask(images, object_threshold)
    _check_heat(heatmaps, mask)
    if bool((heatmaps < 0).any()):
        raise ValueError("heatmaps must be non-negative (Grad-CAM maps in [0, 1])")
    heat = heatmaps.double().flatten(1)
    inside = (heat * mask.to(heatmaps.device).flatten(1)).sum(1)
    return (inside / heat.sum(1)).to(heatmaps.dtype)


def make_meshes(images: Tensor, classes: Tensor,
                object_threshold: float = OBJECT_THRESHOLD) -> tuple[Tensor, Tensor, Tensor]:
    """2x2 meshes of consecutive fours of images, with per-pixel labels and each quadrant's class.

    The layout and the labels of :mod:`tdlib.data.mesh` (:func:`~tdlib.data.mesh.tile_meshes`,
    :func:`~tdlib.data.mesh.pixel_labels`): quadrant ``q`` of a mesh holds image ``4m + q``:
    0 top left, 1 bottom left, 2 top right, 3 bottom right. Works for MNIST as for Fashion-MNIST.

    Args:
        images: ``(4M, 1, H, W)`` in [0, 1].
        classes: ``(4M,)`` classes 0..9.
        object_threshold: Pixels brighter than this carry their image's class.

    Returns:
        Meshes ``(M, 1, 2H, 2W)``, labels ``(M, 2H, 2W)`` (class, 10 background, 11 ignore) and
        quadrant classes ``(M, 4)``.
    """
    labels = pixel_labels(images, classes, object_threshold)
    meshes, mesh_labels = tile_meshes(images, labels)
    return meshes, mesh_labels, classes.reshape(-1, 4).long()


def quadrant_masks(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """``(4, H, W)`` boolean masks of a mesh's quadrants in :func:`make_meshes` order."""
    if height % 2 or width % 2:
        raise ValueError(f"a 2x2 mesh needs an even height and width, got {height}x{width}")
    q = torch.zeros(4, height, width, dtype=torch.bool, device=device)
    h, w = height // 2, width // 2
    q[0, :h, :w] = True   # image 0: top left
    q[1, h:, :w] = True   # image 1: bottom left
    q[2, :h, w:] = True   # image 2: top right
    q[3, h:, w:] = True   # image 3: bottom right
    return q


@dataclass(frozen=True)
class MeshEnergy:
    """Where a heatmap's mass lies on 2x2 meshes (all shares of the whole map's mass, per mesh).

    Attributes:
        on_target: ``(N,)`` on object pixels of the explained class.
        on_other: ``(N,)`` on object pixels of the other classes.
        off_object: ``(N,)`` elsewhere (background and the faint pixels of the ignore class).
        quadrants: ``(N, 4)`` on each quadrant's object pixels.
        quadrant_classes: ``(N, 4)`` class of each quadrant's object (-1: none).
        is_target: ``(N, 4)`` whether the quadrant's object is of the explained class.
    """

    on_target: Tensor
    on_other: Tensor
    off_object: Tensor
    quadrants: Tensor
    quadrant_classes: Tensor
    is_target: Tensor

    @property
    def n_target(self) -> Tensor:
        """``(N,)`` objects of the explained class per mesh."""
        return self.is_target.sum(1)

    @property
    def balance(self) -> Tensor:
        """``(N,)`` how evenly the mass is spread over the target objects: the smallest target
        object's share over the mean share of the target objects (1: even; 0: an object of the
        class gets nothing). NaN for meshes with fewer than two target objects or no mass on them."""
        share = self.quadrants.double()
        t = self.is_target
        lowest = torch.where(t, share, torch.inf).amin(1)
        mean = (share * t).sum(1) / t.sum(1).clamp_min(1)
        out = lowest / mean
        out = torch.where((t.sum(1) >= 2) & (mean > 0), out, torch.nan)
        return out.to(self.quadrants.dtype)

    @property
    def found(self) -> Tensor:
        """``(N,)`` share of the target objects whose object pixels get at least half their
        fair share of the target mass (``on_target / n_target / 2``); NaN without a target object."""
        t = self.is_target
        fair = self.on_target.double() / t.sum(1).clamp_min(1)
        hit = (self.quadrants.double() >= fair.unsqueeze(1) / 2) & t & (fair.unsqueeze(1) > 0)
        out = hit.sum(1).double() / t.sum(1)
        return torch.where(t.sum(1) > 0, out, torch.nan).to(self.quadrants.dtype)


def mesh_energy(heatmaps: Tensor, labels: Tensor, target: Tensor) -> MeshEnergy:
    """Share of the heatmap mass on the objects of the explained class vs the others, on 2x2 meshes.

    Args:
        heatmaps: ``(N, 2H, 2W)`` non-negative (Grad-CAM of the meshes for class ``target``).
        labels: ``(N, 2H, 2W)`` per-pixel labels (:func:`make_meshes` or
            :func:`~tdlib.data.fashion_mnist_mesh`): 0..9 object classes, anything else
            (background 10, ignore 11) off the objects.
        target: ``(N,)`` the class each heatmap explains (or one int for all).

    Returns:
        A :class:`MeshEnergy`. Quadrant classes are read from the labels (the object class
        with most pixels in the quadrant).
    """
    if not isinstance(heatmaps, Tensor) or heatmaps.dim() != 3 or labels.shape != heatmaps.shape:
        shape = tuple(heatmaps.shape) if isinstance(heatmaps, Tensor) else type(heatmaps).__name__
        raise ValueError(f"expected heatmaps and labels of one shape (N, 2H, 2W), got {shape} and "
                         f"{tuple(labels.shape)}")
    if bool((heatmaps < 0).any()):
        raise ValueError("heatmaps must be non-negative (Grad-CAM maps in [0, 1])")
    n, hh, ww = heatmaps.shape
    dev = heatmaps.device
    labels = labels.to(dev).long()
    t = torch.as_tensor(target, device=dev).long()
    t = t.expand(n) if t.dim() == 0 else t
    if t.shape != (n,):
        raise ValueError(f"target must be an int or {n} classes, got shape {tuple(t.shape)}")
    heat = heatmaps.double()
    total = heat.flatten(1).sum(1)
    obj = (labels >= 0) & (labels < 10)
    on_t = obj & (labels == t.view(-1, 1, 1))
    on_o = obj & ~on_t
    share = lambda m: (heat * m).flatten(1).sum(1) / total  # noqa: E731
    if hh % 2 or ww % 2:
        raise ValueError(f"a 2x2 mesh needs an even height and width, got {hh}x{ww}")
    h, w = hh // 2, ww // 2
    mass, cls = [], []
    for rows, cols in ((slice(0, h), slice(0, w)), (slice(h, hh), slice(0, w)),
                       (slice(0, h), slice(w, ww)), (slice(h, hh), slice(w, ww))):  # make_meshes order
        o, lab = obj[:, rows, cols], labels[:, rows, cols]
        mass.append((heat[:, rows, cols] * o).flatten(1).sum(1))
        counts = torch.zeros(n, 11, dtype=torch.long, device=dev)
        counts.scatter_add_(1, torch.where(o, lab, 10).flatten(1), torch.ones_like(lab).flatten(1))
        counts = counts[:, :10]
        cls.append(torch.where(counts.amax(1) > 0, counts.argmax(1), -1))
    quadrants = torch.stack(mass, 1) / total.unsqueeze(1)
    classes = torch.stack(cls, 1)
    dtype = heatmaps.dtype
    return MeshEnergy(
        on_target=share(on_t).to(dtype), on_other=share(on_o).to(dtype),
        off_object=(1 - share(on_t) - share(on_o)).to(dtype), quadrants=quadrants.to(dtype),
        quadrant_classes=classes, is_target=classes == t.view(-1, 1),
    )
