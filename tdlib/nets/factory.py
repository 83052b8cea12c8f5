"""Build registered models by name, as torchvision and timm do: BU networks and their TD twins.

    >>> from tdlib import get_model, list_models
    >>> list_models()
    ['lenetfc', 'nin', 'nin_light', 'resnet18_light', 'resnet32']
    >>> bu = get_model("nin_light")               # the paper's "NIN", 28x28x1
    >>> td = get_model("nin_light", variant="td")  # its top-down twin

This factory sits above both builders: a BU model is
:func:`~tdlib.nets.bottomup.build_bottomup` of a registered description, a TD model is
:func:`~tdlib.nets.topdown.to_topdown` of the same description.

Segmentation networks (Experiment 3, :mod:`tdlib.nets.segmentation`) are built the same
way by name: ``get_model("fcn")``, ``get_model("unet")`` and ``get_model("td_seg")``
(the same network as ``get_model("unet", "td")``), listed by ``list_models("segmentation")``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from . import segmentation, zoo  # noqa: F401  (register the paper's architectures)
from .bottomup import build_bottomup
from .registry import model_info
from .spec import BUSpec
from .topdown import to_topdown

Variant = Literal["bu", "td", "uni", "rev"]
VARIANTS: tuple[str, ...] = ("bu", "td", "uni", "rev")


def get_spec(name: str, paper_variant: bool = False, **cfg: Any) -> BUSpec:
    """The BU description of a registered model (``cfg``: ``in_channels``, ``num_classes``)."""
    info = model_info(name)
    if paper_variant and "paper_variant" in info.paper_variant.get("bu", {}):
        cfg["paper_variant"] = True
    return info.spec(**cfg)


def get_model(name: str, variant: Variant = "bu", *, paper_variant: bool = False, **cfg: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: A name from :func:`list_models`.
        variant: ``"bu"``, or the top-down ``"td"`` (mirrored filters), ``"uni"``
            (uniform) or ``"rev"`` (reversed, following the BU).
        paper_variant: Build the variant whose parameter count matches the paper's Table 1
            where the authors' code differs (LeNetFC BU; NIN and NINext TD and TDuni).
        **cfg: ``in_channels`` and ``num_classes`` for the description; any other key goes
            to :func:`tdlib.nets.topdown.to_topdown` (``merge``, ``upsample``, ``downscale``,
            ``inputs``, ``widths``, ...).

    Returns:
        An ``nn.Module`` mapping ``(B, C, H, W)`` to ``(B, num_classes)``, or, for a
        segmentation model, to ``(B, num_classes, H, W)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    info = model_info(name)
    spec_keys = {"in_channels", "num_classes"}
    spec_cfg = {k: v for k, v in cfg.items() if k in spec_keys}
    td_cfg = {k: v for k, v in cfg.items() if k not in spec_keys}
    spec = get_spec(name, paper_variant and variant == "bu", **spec_cfg)
    if variant == "bu":
        if td_cfg:
            raise ValueError(f"options {sorted(td_cfg)} apply to TD variants only")
        return info.build(spec) if info.build is not None else build_bottomup(spec)
    if info.td_options is None:
        raise ValueError(f"model {name!r} has no TD variants; build it with variant='bu'")
    if paper_variant:
        td_cfg = {**info.paper_variant.get(variant, {}), **td_cfg}
    return to_topdown(spec, arrangement=variant, **{**info.td_options, **td_cfg})


def dummy_input(name: str, batch: int = 2) -> Tensor:
    """A random input of the registered model's paper input shape."""
    return torch.rand(batch, *model_info(name).input_shape)
