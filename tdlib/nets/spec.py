"""Descriptions of bottom-up (BU) networks as stages, read by the top-down builder.

A BU classifier is described, not hand-written: an optional stem convolution, a list of
stages from the finest resolution to the coarsest, and a head. Each stage says how the
resolution is halved on entering it (``down``) and which units (conv layers or residual
blocks) then run at that resolution. :func:`tdlib.nets.build_bottomup` turns a
:class:`BUSpec` into a network and :func:`tdlib.nets.topdown.to_topdown` turns the same
description into its top-down (TD) twin, so that no model needs a hand-written TD
version.

Example (LeNetFC of the paper, 28x28x1)::

    BUSpec(
        name="lenetfc", in_channels=1, num_classes=10,
        stages=(
            Stage((Unit(6, 5),)),                    # 28x28
            Stage((Unit(16, 5),), down="pool2"),     # 14x14
            Stage((Unit(32, 3),), down="pool2"),     # 7x7
        ),
    )
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

UnitKind = Literal["conv", "preact", "basic"]
"""What a :class:`Unit` is built as.

- ``"conv"``: convolution (kernel ``k``, bias) -> BatchNorm -> ReLU (LeNetFC, NIN).
- ``"preact"``: pre-activation residual basic block, BN -> ReLU -> conv3x3 -> BN -> ReLU ->
  conv3x3 plus shortcut (He et al. 2016; the paper's ResNet32 and ResNet18).
- ``"basic"``: torchvision's post-activation ``BasicBlock``.
"""

Down = Literal["pool2", "pool3", "stride"]
"""How a stage halves the resolution on entry.

- ``"pool2"``: 2x2 max-pool, stride 2.
- ``"pool3"``: 3x3 max-pool, stride 2 (padding per :attr:`BUSpec.padding`).
- ``"stride"``: the stage's first unit has stride 2 (residual networks).
"""

Padding = Literal["tf", "torch"]
"""Padding of stride-2 layers: ``"tf"`` is TensorFlow/Keras 'SAME' (extra pixel after,
as in the authors' code), ``"torch"`` is symmetric ``k // 2`` (torchvision)."""

KERAS_BN: tuple[float, float] = (0.01, 1e-3)
"""Keras' ``BatchNormalization()`` defaults (momentum 0.99, eps 1e-3) as PyTorch ``(momentum, eps)``."""

Init = Literal["glorot", "he_trunc", "torch"]
"""Weight initialisation: Keras ``glorot_uniform`` (biases zero), Keras/TF1 ``he_normal``
(truncated normal), or torchvision's ResNet init (kaiming normal, fan_out)."""


@dataclass(frozen=True)
class Unit:
    """One conv layer or residual block.

    Args:
        width: Output channels.
        kernel: Kernel size of a ``"conv"`` unit (residual blocks are always 3x3).
    """

    width: int
    kernel: int = 3


@dataclass(frozen=True)
class Stage:
    """Units that run at one resolution.

    Args:
        units: The units in order; may be empty only for a stage that just downsamples.
        down: How the resolution is halved on entering this stage; ``None`` for a stage at
            the resolution of the stem (or the input).
        dropout: Dropout probability applied right after the downsampling (NIN: 0.5). In
            the TD network it follows the resolution merge that mirrors this downsampling.
        merge_bn: PyTorch ``(momentum, eps)`` of the BatchNorm in the TD merge that mirrors
            this downsampling; ``None``: the network's. Only the ResNet18-light TD needs it:
            the original builds that stem merge's BN with Keras defaults (:data:`KERAS_BN`).
    """

    units: tuple[Unit, ...]
    down: Down | None = None
    dropout: float = 0.0
    merge_bn: tuple[float, float] | None = None


@dataclass(frozen=True)
class Stem:
    """A first convolution on the image, before the first stage.

    Args:
        width: Output channels.
        kernel: Kernel size.
        stride: 1 or 2 (torchvision's 7x7 stride-2 stem).
        norm_act: ``True``: conv -> BN -> ReLU; ``False``: a bare conv (pre-activation nets).
    """

    width: int
    kernel: int = 3
    stride: int = 1
    norm_act: bool = False


@dataclass(frozen=True)
class BUSpec:
    """A bottom-up classifier described as stages.

    Args:
        name: Name used in tables and errors.
        in_channels: Image channels.
        num_classes: Classes of the head.
        stages: Stages from the finest resolution to the coarsest.
        unit: What each :class:`Unit` is (see :data:`UnitKind`).
        stem: Optional first convolution.
        head: ``"conv"``: conv1x1(num_classes) -> BN -> ReLU -> global average pooling
            (LeNetFC, NIN: the logits are >= 0, as in the original code); ``"linear"``:
            [BN -> ReLU for pre-activation nets] -> global average pooling -> Linear.
        bias: Bias on every convolution (Keras default, counted in the paper's Table 1).
        bn_momentum: PyTorch BatchNorm momentum (Keras 0.99 is PyTorch 0.01).
        bn_eps: BatchNorm epsilon.
        padding: Padding convention of stride-2 layers.
        init: Weight initialisation scheme.
        extra: Free-form notes carried along (e.g. the source of a variant).
    """

    name: str
    in_channels: int
    num_classes: int
    stages: tuple[Stage, ...]
    unit: UnitKind = "conv"
    stem: Stem | None = None
    head: Literal["conv", "linear"] = "conv"
    bias: bool = True
    bn_momentum: float = KERAS_BN[0]
    bn_eps: float = KERAS_BN[1]
    padding: Padding = "tf"
    init: Init = "glorot"
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError(f"{self.name}: a BUSpec needs at least one stage")
        if self.unit not in ("conv", "preact", "basic"):
            raise ValueError(f"{self.name}: unknown unit kind {self.unit!r}; expected conv, preact, basic")
        for i, stage in enumerate(self.stages):
            if stage.down not in (None, "pool2", "pool3", "stride"):
                raise ValueError(
                    f"{self.name}: stage {i} has unknown down {stage.down!r}; "
                    "expected None, 'pool2', 'pool3' or 'stride'"
                )
            if stage.down == "stride" and not stage.units:
                raise ValueError(f"{self.name}: stage {i} downsamples by stride but has no unit")
            if i > 0 and stage.down is None:
                raise ValueError(
                    f"{self.name}: stage {i} does not downsample; merge it into stage {i - 1}"
                )
        if self.stages[0].down is not None and self.stem is None:
            raise ValueError(f"{self.name}: the first stage may only downsample after a stem")
        if self.stem is not None and self.stem.stride not in (1, 2):
            raise ValueError(f"{self.name}: stem stride must be 1 or 2, got {self.stem.stride}")

    @property
    def downsamplings(self) -> int:
        """Number of times the resolution is halved (stem stride included)."""
        stem = 1 if self.stem is not None and self.stem.stride == 2 else 0
        return stem + sum(stage.down is not None for stage in self.stages)

    @property
    def widths(self) -> tuple[tuple[int, ...], ...]:
        """Unit widths per stage, finest first."""
        return tuple(tuple(u.width for u in s.units) for s in self.stages)

    def with_stage_units(self, stage: int, units: tuple[Unit, ...]) -> BUSpec:
        """A copy with the units of one stage replaced."""
        stages = list(self.stages)
        stages[stage] = replace(stages[stage], units=units)
        return replace(self, stages=tuple(stages))
