"""ONE builder that turns a bottom-up (BU) description into its top-down (TD) network.

The TD network (paper §3) reverses the BU feature extraction: it starts from the
coarsest input of a blur pyramid and works towards the full resolution. The builder reads
a :class:`~tdlib.nets.spec.BUSpec` and applies these rules, which reproduce the authors' five
hand-written TD classifiers (LeNetFC, NIN-light, NIN, ResNet32, ResNet18-light) layer for
layer and parameter for parameter:

1. **Reversed stages.** TD step ``k`` runs the units of BU stage ``n-1-k`` (coarsest
   first). The steps keep the BU's sequence of resolution changes: where the BU
   downsampled on entering stage ``k``, TD step ``k`` upsamples on entry.
2. **Blur pyramid input.** The image is downscaled by 2, 4, ... (default: the original
   code's antialiased Gaussian resize, ``"tf"``); the coarsest level feeds the first
   step (through the stem, if the BU has one).
3. **Upsampling.** A pooling step becomes ``[1x1 unit if the width changes] -> x2 up``;
   a strided residual block becomes the mirrored block (its convolution runs on ``up(o)``,
   its shortcut is upsampled). A stride-2 stem becomes one more x2 up.
4. **Resolution merge** after every upsampling, with the entry features of the next
   finer pyramid level: the first conv of that stage (plain nets) or a stem-like conv
   (nets with a stem) applied to the image at that scale; the merge is ``add``,
   ``concat`` or ``add_concat`` (paper option 3, default), followed by the stage's dropout.
5. **Filter arrangement.** ``"td"`` keeps each stage's widths (filters shrink as the
   resolution grows), ``"uni"`` gives every unit one width, ``"rev"`` runs the BU's
   width sequence in BU order (each step keeps the kernel of its resolution).

Example::

    >>> from tdlib import get_model, to_topdown
    >>> td = to_topdown(get_model("lenetfc"), arrangement="td")
    >>> import torchvision
    >>> td18 = to_topdown(torchvision.models.resnet18(num_classes=10))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from torch import Tensor, nn

from ..pyramid import DOWNSCALE_METHODS, Downscale, InputPyramid
from .bottomup import describe
from .build import check_input, make_head, make_stem, make_unit, style_of, unit_kwargs
from .layers import (
    MERGES,
    UPSAMPLES,
    ConvUnit,
    Merge,
    MergeKind,
    Projection,
    UpsampleMode,
    init_weights_,
    upsample_factory,
)
from .spec import BUSpec, Down, Unit

Arrangement = Literal["td", "uni", "rev"]
ARRANGEMENTS: tuple[str, ...] = ("td", "uni", "rev")
ProjectionRule = Literal["auto", "first", "always"]
PROJECTIONS: tuple[str, ...] = ("auto", "first", "always")
INPUTS: tuple[str, ...] = ("single", "per_scale")


@dataclass(frozen=True)
class StepPlan:
    """What one TD step does (for figures and tables).

    Attributes:
        transition: ``None`` (first step), ``"up"`` (mirrored pooling or stem stride) or
            ``"up_block"`` (mirrored strided block).
        level: Pyramid level of the step's resolution (0 = full resolution).
        merge_width: Channels of the merge (0 when there is none).
        projection: Whether a 1x1 unit changes the width before upsampling.
        units: The units run after the merge.
        dropout: Dropout after the merge.
    """

    transition: str | None
    level: int
    merge_width: int
    projection: bool
    units: tuple[Unit, ...]
    dropout: float


def arrange(spec: BUSpec, arrangement: Arrangement, uni_width: int | None = None) -> list[tuple[Unit, ...]]:
    """Units of each TD step's stage, coarsest first, for a filter arrangement.

    Args:
        spec: The BU description.
        arrangement: ``"td"``: stage ``n-1-k`` as in the BU; ``"uni"``: the same with every
            width set to ``uni_width`` (default: the median of the stages' first widths:
            16 for LeNetFC, 48 for NIN-light, 32 for ResNet32, as in the original code);
            ``"rev"``: the units of BU stage ``k`` (BU width order), with the first kernel
            of stage ``n-1-k`` (the kernel of the resolution it now runs at).
    """
    if arrangement not in ARRANGEMENTS:
        raise ValueError(f"unknown arrangement {arrangement!r}; expected one of {', '.join(ARRANGEMENTS)}")
    stages = spec.stages
    n = len(stages)
    mirrored = [stages[n - 1 - k].units for k in range(n)]
    if arrangement == "td":
        return mirrored
    if arrangement == "uni":
        if uni_width is None:
            firsts = sorted(s.units[0].width for s in stages if s.units)
            uni_width = firsts[len(firsts) // 2]
        return [tuple(replace(u, width=uni_width) for u in units) for units in mirrored]
    out = []
    for k in range(n):
        units = stages[k].units
        here = mirrored[k]
        if units and here:
            units = (replace(units[0], kernel=here[0].kernel),) + units[1:]
        out.append(units)
    return out


class TDStep(nn.Module):
    """One TD step: transition (1x1 projection or an upsampling block), merge with the entry
    features of its pyramid level (the merge upsamples after a projection), then the units."""

    def __init__(self, transition: nn.Module | None, entry: nn.Module | None, merge: Merge | None,
                 units: nn.Sequential, level: int) -> None:
        super().__init__()
        self.transition, self.entry, self.merge, self.units = transition, entry, merge, units
        self.level = level

    def forward(self, h: Tensor, levels: Sequence[Tensor]) -> Tensor:
        if self.merge is not None:
            h = self.merge(self.transition(h), self.entry(levels[self.level]))  # type: ignore[misc]
        return self.units(h)


class TopDownNet(nn.Module):
    """A TD classifier built by :func:`to_topdown`.

    Input: ``(B, C, H, W)`` (``inputs="single"``), or a sequence of ``levels`` such images,
    full resolution first (``inputs="per_scale"``; input ``k`` is downscaled by ``2**k``
    inside the network, as the original ``_multi`` models do). Output: ``(B, num_classes)``.

    Attributes:
        spec: The BU description it was built from.
        config: The builder options.
        plan: A :class:`StepPlan` per step.
    """

    def __init__(self, spec: BUSpec, plan: list[StepPlan], config: dict[str, Any], stem: nn.Module | None,
                 steps: list[TDStep], head: nn.Module) -> None:
        super().__init__()
        self.spec, self.plan, self.config = spec, plan, config
        self.levels = spec.downsamplings + 1
        method = config["downscale"]
        if config["inputs"] == "single":
            self.pyramid = InputPyramid(self.levels, method)
        else:
            self.downscales = nn.ModuleList(
                nn.Identity() if k == 0 else Downscale(2**k, method) for k in range(self.levels)
            )
        self.stem = stem
        self.steps = nn.ModuleList(steps)
        self.head = head

    def input_levels(self, x: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """The pyramid: ``levels`` tensors, full resolution first."""
        if self.config["inputs"] == "single":
            if not isinstance(x, Tensor):
                raise ValueError("this TD network takes one image tensor (inputs='single')")
            check_input(x, self.spec)
            return self.pyramid(x)
        if isinstance(x, Tensor) or len(x) != self.levels:
            raise ValueError(
                f"this TD network takes a sequence of {self.levels} full-resolution images, "
                "one per scale, highest first (inputs='per_scale')"
            )
        for xi in x:
            check_input(xi, self.spec)
        return [d(xi) for d, xi in zip(self.downscales, x, strict=True)]

    def level_features(self, levels: Sequence[Tensor]) -> list[Tensor]:
        """Feature maps after each step, coarsest first, from a ready pyramid.

        Args:
            levels: ``levels`` tensors ``(B, C, H / 2**k, W / 2**k)``, full resolution first.

        Returns:
            A list of ``(B, C_k, H_k, W_k)``; the last one has the input's resolution.
        """
        h = self.stem(levels[-1]) if self.stem is not None else levels[-1]
        out = []
        for step in self.steps:
            h = step(h, levels)
            out.append(h)
        return out

    def features(self, x: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """Feature maps after each step, coarsest first: a list of ``(B, C_k, H_k, W_k)``."""
        return self.level_features(self.input_levels(x))

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        return self.head(self.features(x)[-1])


def to_topdown(
    bu: nn.Module | BUSpec,
    *,
    arrangement: Arrangement = "td",
    merge: MergeKind = "add_concat",
    upsample: UpsampleMode = "nearest",
    downscale: str = "tf",
    inputs: Literal["single", "per_scale"] = "single",
    projection: ProjectionRule = "auto",
    widths: Sequence[int] | None = None,
    uni_width: int | None = None,
) -> TopDownNet:
    """Build the top-down twin of a bottom-up network.

    Args:
        bu: A :class:`~tdlib.nets.BottomUpNet`, a :class:`~tdlib.nets.spec.BUSpec`, or a
            torchvision BasicBlock ResNet (read by :func:`tdlib.nets.describe`). Weights
            are not copied: the TD network is a new, freshly initialised network.
        arrangement: Filter arrangement ``"td"``, ``"uni"`` or ``"rev"`` (paper §3.3).
        merge: Resolution merge ``"add"``, ``"concat"`` or ``"add_concat"`` (§3.2).
        upsample: ``"nearest"`` (the paper's), ``"bilinear"`` or ``"transposed"``.
        downscale: Pyramid method, one of :data:`tdlib.pyramid.DOWNSCALE_METHODS`.
        inputs: ``"single"`` image, or ``"per_scale"``: one image per pyramid level.
        projection: When pooling steps get a 1x1 unit before upsampling: ``"auto"`` (only
            when the width changes, as the authors' code), ``"first"`` (also at the first
            upsampling: the paper-implied NIN TD variant), ``"always"``.
        widths: Override the width of every unit, per TD step (coarsest first), e.g.
            ``(64, 32, 32)`` for the ResNet32 TD whose last block has 32 filters.
        uni_width: The width of ``"uni"`` (default: the median stage width).

    Returns:
        The :class:`TopDownNet`.
    """
    spec = bu if isinstance(bu, BUSpec) else describe(bu)
    for value, valid, what in ((merge, MERGES, "merge"), (upsample, UPSAMPLES, "upsample"),
                               (downscale, DOWNSCALE_METHODS, "downscale"), (inputs, INPUTS, "inputs"),
                               (projection, PROJECTIONS, "projection")):
        if value not in valid:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(valid)}")
    contents = arrange(spec, arrangement, uni_width)
    if widths is not None:
        if len(widths) != len(contents):
            raise ValueError(f"{spec.name}: widths needs {len(contents)} values (one per TD step), got {len(widths)}")
        contents = [tuple(replace(u, width=w) for u in units) for units, w in zip(contents, widths, strict=True)]

    transitions: list[Down | Literal["stem"] | None] = [s.down for s in spec.stages]
    dropouts = [s.dropout for s in spec.stages]
    if spec.stem is not None and spec.stem.stride == 2:
        transitions.insert(0, "stem")
        dropouts.insert(0, 0.0)
        contents.insert(0, ())

    kw = unit_kwargs(spec)
    style = style_of(spec)
    up = upsample_factory(upsample)
    cin = spec.in_channels
    first_width = next(units[0].width for units in contents if units)
    stem = None
    c = cin
    if spec.stem is not None:
        stem = make_stem(spec, cin, first_width, 1)
        c = first_width

    steps: list[TDStep] = []
    plan: list[StepPlan] = []
    level = spec.downsamplings
    merged = False
    for k, (t, units, p) in enumerate(zip(transitions, contents, dropouts, strict=True)):
        transition = entry = merge_mod = None
        rest = list(units)
        width = c
        projected = False
        if t is not None:
            level -= 1
            if t == "stride":  # the mirrored strided block upsamples itself
                first = rest.pop(0)
                transition = make_unit(spec, c, first, "up", up=up)
                width = first.width
                merge_up = None
            else:  # a pooling step: [1x1 unit], then the merge upsamples
                width = units[0].width if units else c
                projected = projection == "always" or (projection == "first" and not merged) or width != c
                transition = Projection(c, width, style, project=projected, **kw)
                merge_up = up(width)
            if spec.stem is not None:
                entry = make_stem(spec, cin, width, 1)
            else:
                entry = ConvUnit(cin, width, units[0].kernel if units else 3, "post", **kw)
            merge_mod = Merge(width, merge, style, dropout=p, up=merge_up, **kw)
            merged = True
        elif k > 0:
            raise ValueError(f"{spec.name}: TD step {k} has no resolution change")
        c = width
        layers = []
        for u in rest:
            layers.append(make_unit(spec, c, u))
            c = u.width
        steps.append(TDStep(transition, entry, merge_mod, nn.Sequential(*layers), level))
        plan.append(StepPlan(
            transition=None if t is None else ("up_block" if t == "stride" else "up"),
            level=level, merge_width=width if t is not None else 0, projection=projected,
            units=tuple(units), dropout=p if t is not None else 0.0,
        ))
    head = make_head(spec, c)
    config = dict(arrangement=arrangement, merge=merge, upsample=upsample, downscale=downscale,
                  inputs=inputs, projection=projection, widths=tuple(widths) if widths else None,
                  uni_width=uni_width)
    net = TopDownNet(spec, plan, config, stem, steps, head)
    init_weights_(net, spec.init)
    return net


def per_scale_twin(td: TopDownNet) -> TopDownNet:
    """The per-scale-input version of a single-input TD network, with the same weights."""
    cfg = {k: v for k, v in td.config.items() if k != "inputs"}
    twin = to_topdown(td.spec, inputs="per_scale", **cfg)
    twin.load_state_dict(td.state_dict())
    return twin.train(td.training)

