"""Shared builders of bottom-up and top-down networks: units, stems, heads, input checks, counts.

Both :mod:`tdlib.nets.bottomup` and :mod:`tdlib.nets.topdown` build their modules from a
:class:`~tdlib.nets.spec.BUSpec` with these functions, so a unit of a TD step is built
exactly as the BU unit it mirrors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from torch import Tensor, nn

from .layers import BasicBlock, ConvHead, ConvUnit, LinearHead, PreActBlock
from .spec import BUSpec, Unit


def unit_kwargs(spec: BUSpec) -> dict[str, Any]:
    """Layer settings shared by every unit of a network."""
    return dict(bias=spec.bias, bn_momentum=spec.bn_momentum, bn_eps=spec.bn_eps, padding=spec.padding)


def style_of(spec: BUSpec) -> Literal["post", "pre"]:
    """Order of conv units: pre-activation nets put BN -> ReLU before each convolution."""
    return "pre" if spec.unit == "preact" else "post"


def make_unit(spec: BUSpec, cin: int, unit: Unit, mode: Literal["same", "down", "up"] = "same",
              up: Callable[[int], nn.Module] | None = None, project: bool = False) -> nn.Module:
    """Build one :class:`~tdlib.nets.spec.Unit` of ``spec`` as a module.

    Args:
        spec: The network description (unit kind and layer settings).
        cin: Input channels.
        unit: Width and kernel.
        mode: ``"down"`` halves the resolution (stride 2), ``"up"`` doubles it (TD only).
        up: Upsampling factory for ``mode="up"``.
        project: Residual blocks: a 1x1 shortcut even where the shape does not change.
    """
    kw = unit_kwargs(spec)
    if spec.unit == "conv":
        if mode == "up":
            raise ValueError("a conv unit cannot upsample; TD steps use Projection + Merge")
        return ConvUnit(cin, unit.width, unit.kernel, "post", stride=2 if mode == "down" else 1, **kw)
    block = PreActBlock if spec.unit == "preact" else BasicBlock
    return block(cin, unit.width, mode, up=up, project=project, **kw)


def make_stem(spec: BUSpec, cin: int, width: int, stride: int) -> nn.Module:
    """The stem convolution of ``spec`` with a given width (bare or conv -> BN -> ReLU)."""
    assert spec.stem is not None
    return ConvUnit(cin, width, spec.stem.kernel, "post", stride=stride,
                    norm_act=spec.stem.norm_act, **unit_kwargs(spec))


def make_head(spec: BUSpec, cin: int) -> nn.Module:
    """The classifier head of ``spec`` on ``cin`` channels."""
    if spec.head == "conv":
        return ConvHead(cin, spec.num_classes, **unit_kwargs(spec))
    return LinearHead(cin, spec.num_classes, preact=spec.unit == "preact",
                      bn_momentum=spec.bn_momentum, bn_eps=spec.bn_eps)


def check_input(x: Tensor, spec: BUSpec) -> None:
    """Raise a ValueError that says what was expected when ``x`` does not fit ``spec``."""
    if x.dim() != 4:
        raise ValueError(f"{spec.name}: expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if x.shape[1] != spec.in_channels:
        raise ValueError(f"{spec.name}: expected {spec.in_channels} input channels, got {x.shape[1]}")
    f = 2 ** spec.downsamplings
    h, w = x.shape[-2:]
    if h % f or w % f:
        raise ValueError(
            f"{spec.name}: input height and width must be divisible by 2**{spec.downsamplings} = {f} "
            f"(one halving per downsampling), got {h}x{w}"
        )


def count_parameters(model: nn.Module, trainable: bool = True) -> int:
    """Number of (trainable) parameters, Keras-style: BN moving statistics are buffers."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def count_all(model: nn.Module) -> int:
    """Parameters plus BatchNorm moving mean and variance (Keras ``count_params()``)."""
    bn_stats = sum(
        m.running_mean.numel() + m.running_var.numel()  # type: ignore[union-attr]
        for m in model.modules() if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None
    )
    return count_parameters(model) + bn_stats
