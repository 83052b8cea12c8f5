"""Grad-CAM of BU and TD networks and how well it localises objects (paper §5, Figures 8-10).

- :mod:`~tdlib.explain.layers`: :func:`layers` (the feature maps of a network, with their
  resolutions, in forward order: coarse to fine for a TD network), :func:`paper_layers`
  (the authors' ``act_1``, ``act_2``, ... as our names);
- :mod:`~tdlib.explain.gradcam`: :func:`grad_cam` and :class:`GradCAM`, batched, any layer
  of any tdlib network, in the authors' ``"original"`` procedure (experiments.md §7) or
  the paper's Eq. 3.3 (``"paper"``, checked against pytorch-grad-cam in the tests);
- :mod:`~tdlib.explain.localisation`: :func:`localisation_iou` (Figure 10, both readings of
  the averaging), :func:`energy_share` (threshold-free), :func:`make_meshes` and
  :func:`mesh_energy` (several objects on 2x2 meshes).

Imports: nets, data, speed; nothing above them (``tests/test_imports.py``).

Example::

    from tdlib import get_model
    from tdlib.explain import grad_cam, layers, localisation_iou, paper_layers
    bu, td = get_model("nin_light"), get_model("nin_light", "td")
    for net in (bu, td):
        heat = grad_cam(net, images, paper_layers(net)["act_4"])   # (N, 28, 28)
        iou = localisation_iou(heat, images)                        # (5,) at thr 0.0 .. 0.4
"""

from .gradcam import STYLES, GradCAM, LayerCapture, grad_cam, postprocess
from .layers import Layer, activations, layer_names, layers, paper_layers
from .localisation import (
    OBJECT_THRESHOLD,
    REDUCES,
    THRESHOLDS,
    MeshEnergy,
    energy_share,
    localisation_iou,
    make_meshes,
    mesh_energy,
    object_mask,
    quadrant_masks,
)

__all__ = [
    "OBJECT_THRESHOLD",
    "REDUCES",
    "STYLES",
    "THRESHOLDS",
    "GradCAM",
    "Layer",
    "LayerCapture",
    "MeshEnergy",
    "activations",
    "energy_share",
    "grad_cam",
    "layer_names",
    "layers",
    "localisation_iou",
    "make_meshes",
    "mesh_energy",
    "object_mask",
    "paper_layers",
    "postprocess",
    "quadrant_masks",
]
