"""Segmentation networks of Experiment 3 (``shared/reference/experiments.md`` §3.6): FCN, U-net, TD.

All three map a ``(B, 1, 56, 56)`` mesh of four Fashion-MNIST images to per-pixel scores
``(B, 12, 56, 56)`` (10 garment classes, background, ignore; apply softmax outside). They
share one encoder, described as a :class:`~tdlib.nets.spec.BUSpec` (:func:`seg_encoder_spec`):
two 3x3 convs (conv -> BN -> ReLU) of 64 filters at 56x56, then 2x2 max-pool and two of 128
at 28x28, then pool and two of 256 at 14x14. Keras settings as the classifiers: bias on
every conv, glorot init, BN momentum 0.99 / eps 1e-3.

- :class:`FCN` (FCN-8s-like, the original's ``stride=1`` path): the encoder pools after
  every stage (P1 28x28, P2 14x14, P3 7x7); bare 1x1 score convs on P3, P2 and P1 are
  summed from the coarsest, each after a bilinear x2; a last bilinear x2 and a BN.
  1,151,484 parameters.
- :class:`UNet` (U-net-like): the encoder, then per finer stage: nearest x2, conv1x1 unit,
  concat with that stage's encoder output, the stage's two 3x3 convs; a conv1x1-12 -> BN
  head. 1,742,500 parameters.
- TD: not a class here. It is :func:`~tdlib.nets.topdown.to_topdown` of the encoder
  description with ``entry_units=2, head="segmentation"`` (:data:`SEG_TD_OPTIONS`):
  ``get_model("td_seg")``, equal to ``get_model("unet", "td")``. 1,562,212 parameters.

The counts are the trainable parameters of the authors' Keras models (experiments.md §4).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .build import make_unit, unit_kwargs
from .layers import ConvUnit, MaxPool, SegmentationHead, Upsample2x, init_weights_
from .registry import ModelInfo, register_model
from .spec import BUSpec, Stage, Unit
from .topdown import to_topdown

#: Fashion-MNIST's 10 classes, then background (10) and ignore (11).
SEG_CLASSES = 12
#: :func:`~tdlib.nets.topdown.to_topdown` options of the TD segmentation network.
SEG_TD_OPTIONS: dict[str, Any] = {"entry_units": 2, "head": "segmentation"}


def seg_encoder_spec(in_channels: int = 1, num_classes: int = SEG_CLASSES) -> BUSpec:
    """The encoder shared by FCN, U-net and the TD segmentation network, 56x56x1.

    Stages: 2x conv3x3-64 (full resolution); 2x2 max-pool, 2x conv3x3-128; pool,
    2x conv3x3-256. ``num_classes`` is the number of per-pixel output channels.
    """
    return BUSpec(
        name="seg_encoder", in_channels=in_channels, num_classes=num_classes,
        stages=(
            Stage((Unit(64), Unit(64))),
            Stage((Unit(128), Unit(128)), down="pool2"),
            Stage((Unit(256), Unit(256)), down="pool2"),
        ),
    )


def _check_encoder(spec: BUSpec, what: str) -> None:
    if spec.unit != "conv" or spec.stem is not None or any(s.down not in (None, "pool2") for s in spec.stages):
        raise ValueError(f"{what} needs a plain conv encoder without a stem whose stages downsample "
                         f"by 2x2 max-pooling; {spec.name} is not one")
    if any(not s.units for s in spec.stages):
        raise ValueError(f"{what}: every encoder stage needs at least one unit")


def _check_seg_input(x: Tensor, spec: BUSpec, factor: int) -> None:
    if x.dim() != 4 or x.shape[1] != spec.in_channels:
        raise ValueError(f"expected a (B, {spec.in_channels}, H, W) tensor, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"input height and width must be divisible by {factor}, got {h}x{w}")


class _Encoder(nn.Module):
    """The stages of an encoder description, each keeping its output (finest first)."""

    def __init__(self, spec: BUSpec) -> None:
        super().__init__()
        stages, c = [], spec.in_channels
        for stage in spec.stages:
            layers: list[nn.Module] = [MaxPool(2)] if stage.down == "pool2" else []
            for u in stage.units:
                layers.append(make_unit(spec, c, u))
                c = u.width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


class FCN(nn.Module):
    """FCN-8s-like segmentation network on an encoder description (see the module docstring).

    Input ``(B, C, H, W)`` with ``H`` and ``W`` divisible by ``2 ** len(spec.stages)``;
    output ``(B, num_classes, H, W)`` scores.

    Attributes:
        spec: The encoder description.
        encoder: The encoder stages.
        pool: The 2x2 max-pool after every stage.
        scores: Bare conv1x1(num_classes) per stage output (after its pool), finest first.
        bn: The BatchNorm on the full-resolution sum of scores.
    """

    def __init__(self, spec: BUSpec) -> None:
        super().__init__()
        _check_encoder(spec, "FCN")
        self.spec = spec
        kw = unit_kwargs(spec)
        self.encoder = _Encoder(spec)
        self.pool = MaxPool(2)
        self.scores = nn.ModuleList(
            ConvUnit(s.units[-1].width, spec.num_classes, 1, norm_act=False, **kw) for s in spec.stages
        )
        self.up = Upsample2x("bilinear")
        self.bn = nn.BatchNorm2d(spec.num_classes, eps=spec.bn_eps, momentum=spec.bn_momentum)
        init_weights_(self, spec.init)

    def forward(self, x: Tensor) -> Tensor:
        _check_seg_input(x, self.spec, 2 ** len(self.spec.stages))
        pooled = [self.pool(f) for f in self.encoder(x)]
        s = self.scores[-1](pooled[-1])
        for p, score in zip(reversed(pooled[:-1]), reversed(self.scores[:-1]), strict=True):
            s = self.up(s) + score(p)
        return self.bn(self.up(s))


class UNet(nn.Module):
    """U-net-like segmentation network on an encoder description (see the module docstring).

    Input ``(B, C, H, W)`` with ``H`` and ``W`` divisible by ``2 ** spec.downsamplings``;
    output ``(B, num_classes, H, W)`` scores.

    Attributes:
        spec: The encoder description.
        encoder: The encoder stages.
        reduce: Per decoder step (coarsest first): the conv1x1 unit after the upsampling,
            to the width of the encoder output it is concatenated with.
        decoder: Per decoder step: the units of the matching encoder stage, the first on
            the concatenation.
        head: conv1x1(num_classes) -> BN.
    """

    def __init__(self, spec: BUSpec) -> None:
        super().__init__()
        _check_encoder(spec, "U-net")
        self.spec = spec
        kw = unit_kwargs(spec)
        self.encoder = _Encoder(spec)
        self.up = Upsample2x("nearest")
        c = spec.stages[-1].units[-1].width
        reduce, decoder = [], []
        for stage in reversed(spec.stages[:-1]):
            skip = stage.units[-1].width
            reduce.append(ConvUnit(c, skip, 1, **kw))
            layers, c = [], 2 * skip
            for u in stage.units:
                layers.append(make_unit(spec, c, u))
                c = u.width
            decoder.append(nn.Sequential(*layers))
        self.reduce = nn.ModuleList(reduce)
        self.decoder = nn.ModuleList(decoder)
        self.head = SegmentationHead(c, spec.num_classes, **kw)
        init_weights_(self, spec.init)

    def forward(self, x: Tensor) -> Tensor:
        _check_seg_input(x, self.spec, 2 ** self.spec.downsamplings)
        feats = self.encoder(x)
        h = feats[-1]
        for skip, reduce, units in zip(reversed(feats[:-1]), self.reduce, self.decoder, strict=True):
            h = units(torch.cat([reduce(self.up(h)), skip], 1))
        return self.head(h)


def build_fcn(spec: BUSpec) -> FCN:
    """The FCN of an encoder description."""
    return FCN(spec)


def build_unet(spec: BUSpec) -> UNet:
    """The U-net of an encoder description."""
    return UNet(spec)


def build_td_seg(spec: BUSpec) -> nn.Module:
    """The TD segmentation network: the one TD builder with :data:`SEG_TD_OPTIONS`."""
    return to_topdown(spec, **SEG_TD_OPTIONS)


for _info in (
    ModelInfo("fcn", seg_encoder_spec, (1, 56, 56), "FCN",
              "FCN-8s-like segmentation network (Fashion-MNIST meshes)", {},
              task="segmentation", build=build_fcn, td_options=None),
    ModelInfo("unet", seg_encoder_spec, (1, 56, 56), "U-net",
              "U-net-like segmentation network (Fashion-MNIST meshes); its TD twin is td_seg", {},
              task="segmentation", build=build_unet, td_options=SEG_TD_OPTIONS),
    ModelInfo("td_seg", seg_encoder_spec, (1, 56, 56), "TD",
              "top-down segmentation network: to_topdown of the U-net encoder (Fashion-MNIST meshes)", {},
              task="segmentation", build=build_td_seg, td_options=None),
):
    register_model(_info)
