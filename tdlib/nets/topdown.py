"""ONE builder that turns a bottom-up (BU) description into its top-down (TD) network.

The TD network (paper §3) reverses the BU feature extraction: it starts from the
coarsest input of a blur pyramid and works towards the full resolution. The builder reads
a :class:`~tdlib.nets.spec.BUSpec` and applies these rules. With the default options they
rebuild the authors' five hand-written TD classifiers (LeNetFC, NIN-light, NIN, ResNet32,
ResNet18-light) layer for layer: the same layers with the original widths, kernels,
BatchNorm settings, initialisation and parameter counts (``python -m tdlib params``;
``tests/nets/test_topdown.py``).

1. **Reversed stages.** TD step ``k`` runs the units of BU stage ``n-1-k`` (coarsest
   first). The steps keep the BU's sequence of resolution changes: where the BU
   downsampled on entering stage ``k``, TD step ``k`` upsamples on entry.
2. **Blur pyramid input.** The image is downscaled by 2, 4, ... (default: the original
   code's antialiased Gaussian resize, ``"tf"``); the coarsest level feeds the first
   step (through the stem, if the BU has one). With ``inputs="fourier_rings"`` (thesis
   §3.2.3, Fig. 3.8) the levels are instead non-overlapping Fourier bands of the image
   (:func:`tdlib.pyramid.fourier_ring_pyramid`): the inner disk at the coarsest level, the
   outermost ring at full resolution; the layers and parameters are the same.
3. **Upsampling.** A pooling step becomes ``[1x1 unit] -> x2 up``; a strided residual
   block becomes the mirrored block (its convolution runs on ``up(o)``, its shortcut is
   ``up(conv1x1(o))`` or ``up(x)``). A stride-2 stem becomes one more x2 up. Which
   transitions get the 1x1 is the ``projection`` rule of :func:`to_topdown` (default:
   where the width changes, as in every original TD model).
4. **Resolution merge** after every upsampling, with the entry features of the next
   finer pyramid level: the first conv of that stage (plain nets; ``entry_units``: its
   first few convs) or a stem-like conv (nets with a stem) applied to the image at that
   scale; the merge is ``add``, ``concat`` or ``add_concat`` (paper option 3, default),
   followed by the stage's dropout. All of the stage's units then run after the merge.
5. **Filter arrangement.** ``"td"`` keeps each stage's widths (filters shrink as the
   resolution grows), ``"uni"`` gives every unit one width, ``"rev"`` runs the BU's
   width sequence in BU order (each step keeps the kernel of its resolution).
6. **Head.** The BU's classifier head on the last step's features, or
   (``head="segmentation"``) a per-pixel conv1x1(num_classes) -> BN at the last step's
   resolution, the input's.

The TD segmentation network of Experiment 3 (``shared/reference/experiments.md`` §3.6) is
the TD twin of the U-net's encoder (two 3x3 convs of 64, 128 and 256 filters at 1, 1/2
and 1/4 resolution) with ``entry_units=2`` and ``head="segmentation"``: entries of two
3x3 convs per pyramid level, ``1x1 -> up -> add -> concat -> 3x3`` merges followed by the
stage's two 3x3 convs, and a conv1x1-12 -> BN head (``get_model("td_seg")``, 1,562,212
parameters as the original).

Where ours is not the original graph (``shared/reference/experiments.md``):

- The merges of LeNetFC and NIN (nearest upsampling, conv -> BN -> ReLU after the concat)
  are computed by an exact rewrite, a transposed convolution of the coarse stream plus a
  convolution of the skip (:class:`~tdlib.nets.layers.Merge`): the same function of the
  same parameters, up to float rounding, but not the original's sequence of operations.
  ``Merge.fuse_upsample = False`` computes the literal graph.
- ``downscale="antialias"`` is the blur-pool for every network. The original has that
  branch only in LeNetFC TD; its NIN and ResNet TD models fall through to max-pooling,
  our ``"pool"``. The default ``"tf"`` is the original's in every model.
- Non-default options (``widths``, ``projection="first"`` or ``"always"``, other merges
  and upsamplings, ``uni_width``) build networks that have no original code; the paper
  variants they serve are described where they are registered (:mod:`tdlib.nets.zoo`).

Example::

    >>> from tdlib import get_model, to_topdown
    >>> td = to_topdown(get_model("lenetfc"), arrangement="td")
    >>> import torchvision
    >>> td18 = to_topdown(torchvision.models.resnet18(num_classes=10))
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from torch import Tensor, nn

from ..pyramid import DOWNSCALE_METHODS, Downscale, FourierRingPyramid, InputPyramid
from .bottomup import describe
from .build import check_input, make_head, make_stem, make_unit, style_of, unit_kwargs
from .layers import (
    MERGES,
    UPSAMPLES,
    ConvUnit,
    Merge,
    MergeKind,
    Projection,
    SegmentationHead,
    UpsampleMode,
    init_weights_,
    upsample_factory,
)
from .spec import BUSpec, Down, Unit

Arrangement = Literal["td", "uni", "rev"]
ARRANGEMENTS: tuple[str, ...] = ("td", "uni", "rev")
ProjectionRule = Literal["auto", "first", "always"]
PROJECTIONS: tuple[str, ...] = ("auto", "first", "always")
Inputs = Literal["single", "per_scale", "fourier_rings"]
INPUTS: tuple[str, ...] = ("single", "per_scale", "fourier_rings")
#: Ring radii (cycles per image) of ``inputs="fourier_rings"`` when none are given: the thesis' r = [5, 10].
DEFAULT_RING_RADII: tuple[float, ...] = (5.0, 10.0)
Head = Literal["classifier", "segmentation"]
HEADS: tuple[str, ...] = ("classifier", "segmentation")


@dataclass(frozen=True)
class StepPlan:
    """What one TD step does (for figures and tables).

    Attributes:
        transition: ``None`` (first step), ``"up"`` (mirrored pooling or stem stride) or
            ``"up_block"`` (mirrored strided block).
        level: Pyramid level of the step's resolution (0 = full resolution).
        merge_width: Channels of the merge (0 when there is none).
        projection: Whether the transition has a 1x1 convolution (a 1x1 unit before the
            upsampling of a pooling step, a 1x1 shortcut in a mirrored strided block).
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
    """A TD network built by :func:`to_topdown`.

    Input: ``(B, C, H, W)`` (``inputs="single"`` or ``"fourier_rings"``), or a sequence of
    ``levels`` such images, full resolution first (``inputs="per_scale"``; input ``k`` is
    downscaled by ``2**k`` inside the network, as the original ``_multi`` models do).
    ``"single"`` feeds the blur pyramid of the image, ``"fourier_rings"`` its Fourier ring
    bands (:class:`~tdlib.pyramid.FourierRingPyramid`). Output: ``(B, num_classes)``,
    or per-pixel scores ``(B, num_classes, H, W)`` with ``head="segmentation"``.

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
        self.pyramid: nn.Module | None = None
        if config["inputs"] == "single":
            self.pyramid = InputPyramid(self.levels, method)
        elif config["inputs"] == "fourier_rings":
            self.pyramid = FourierRingPyramid(self.levels, config["ring_radii"])
        else:
            self.downscales = nn.ModuleList(
                nn.Identity() if k == 0 else Downscale(2**k, method) for k in range(self.levels)
            )
        self.stem = stem
        self.steps = nn.ModuleList(steps)
        self.head = head

    def input_levels(self, x: Tensor | Sequence[Tensor]) -> list[Tensor]:
        """The pyramid: ``levels`` tensors ``(B, C, H / 2**k, W / 2**k)``, full resolution first.

        ``inputs="single"``: the blur pyramid; ``"fourier_rings"``: the Fourier ring bands
        (level k holds band ``levels - 1 - k``); ``"per_scale"``: input k downscaled by ``2**k``.
        """
        if self.pyramid is not None:
            if not isinstance(x, Tensor):
                raise ValueError(f"this TD network takes one image tensor (inputs={self.config['inputs']!r})")
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
    inputs: Inputs = "single",
    ring_radii: Sequence[float] | None = None,
    projection: ProjectionRule = "auto",
    widths: Sequence[int] | None = None,
    uni_width: int | None = None,
    entry_units: int = 1,
    head: Head = "classifier",
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
        inputs: ``"single"`` image (its blur pyramid feeds the steps), ``"per_scale"``: one
            image per pyramid level, or ``"fourier_rings"``: a single image whose Fourier
            ring bands replace the blur pyramid (thesis §3.2.3, Fig. 3.8): band k of
            :func:`tdlib.pyramid.fourier_bands` feeds pyramid level ``levels - 1 - k`` (the
            inner disk the coarsest step, the outermost ring the full-resolution step),
            brought to that level's resolution by exact band-limited subsampling
            (:func:`tdlib.pyramid.fourier_ring_pyramid`). Same layers and parameters as the
            blur-pyramid network; ``downscale`` must stay ``"tf"`` (it is not used).
        ring_radii: The ring radii of ``"fourier_rings"`` in cycles per image, strictly
            increasing; one fewer than the pyramid levels (BU downsamplings + 1). Default
            (None): :data:`DEFAULT_RING_RADII`, the thesis' (5, 10), for the 3-level networks
            (LeNetFC, NIN-light, NIN, ResNet32). Only with ``inputs="fourier_rings"``.
        projection: Which transitions get a 1x1 convolution (a 1x1 unit before the
            upsampling of a pooling step; a 1x1 shortcut ``up(conv1x1(o))`` instead of
            ``up(x)`` in a mirrored strided block):

            - ``"auto"``: where the width changes. This rebuilds every original TD model
              (ResNet TD and TDrev change the width at each up-block, TDuni never does).
            - ``"first"``: also at the first transition (the paper-implied NIN and NINext
              TD and TDuni of Table 1).
            - ``"always"``: at every transition. With ``widths=(64, 32, 32)`` this is the
              original ``ResNet_TD`` widened literally, whose up-blocks always have the
              1x1: 610,378 parameters, against 609,322 with ``"auto"`` (the last up-block,
              32 -> 32 channels, gets ``up(x)`` as TDuni's blocks do).

            The widened ResNet32 TD (the paper's 32-filter last block, §4.1) has no
            original code. The committed runs (``bu-vs-td``, "TD (last block 32)") use
            ``"auto"``: they were trained with the builder's one rule, the rule that
            rebuilds all of the original TD models; the two readings differ by one 1x1
            convolution (1,056 parameters, 0.2%).
        widths: Override the width of every unit, per TD step (coarsest first), e.g.
            ``(64, 32, 32)`` for the ResNet32 TD whose last block has 32 filters.
        uni_width: The width of ``"uni"`` (default: the median stage width).
        entry_units: How many leading units of a stage form the entry features of its
            pyramid level (plain nets only): 1, the first conv, in every TD classifier;
            2 in the TD segmentation network (two 3x3 convs on each image scale). The
            merge then has the width of the last of them.
        head: ``"classifier"``: the BU's head, output ``(B, num_classes)``;
            ``"segmentation"``: conv1x1(num_classes) -> BN per pixel at the last step's
            (the input's) resolution, output ``(B, num_classes, H, W)``.

    Returns:
        The :class:`TopDownNet`.
    """
    spec = bu if isinstance(bu, BUSpec) else describe(bu)
    for value, valid, what in ((merge, MERGES, "merge"), (upsample, UPSAMPLES, "upsample"),
                               (downscale, DOWNSCALE_METHODS, "downscale"), (inputs, INPUTS, "inputs"),
                               (projection, PROJECTIONS, "projection"), (head, HEADS, "head")):
        if value not in valid:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(valid)}")
    if isinstance(entry_units, bool) or not isinstance(entry_units, int) or entry_units < 1:
        raise ValueError(f"entry_units must be an integer >= 1, got {entry_units!r}")
    radii = _ring_radii(spec, inputs, ring_radii, downscale)
    if entry_units > 1 and spec.stem is not None:
        raise ValueError(f"{spec.name}: entry_units > 1 needs a network without a stem "
                         "(with a stem, each pyramid level enters through one stem-like conv)")
    contents = arrange(spec, arrangement, uni_width)
    if widths is not None:
        if len(widths) != len(contents):
            raise ValueError(f"{spec.name}: widths needs {len(contents)} values (one per TD step), got {len(widths)}")
        contents = [tuple(replace(u, width=w) for u in units) for units, w in zip(contents, widths, strict=True)]

    transitions: list[Down | Literal["stem"] | None] = [s.down for s in spec.stages]
    dropouts = [s.dropout for s in spec.stages]
    merge_bns = [s.merge_bn for s in spec.stages]
    if spec.stem is not None and spec.stem.stride == 2:
        transitions.insert(0, "stem")
        dropouts.insert(0, 0.0)
        merge_bns.insert(0, None)
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
    for k, (t, units, p, bn) in enumerate(zip(transitions, contents, dropouts, merge_bns, strict=True)):
        transition = entry = merge_mod = None
        rest = list(units)
        width = c
        projected = False
        if t is not None:
            level -= 1
            if entry_units > max(len(units), 1):
                raise ValueError(f"{spec.name}: entry_units={entry_units}, but TD step {k} has only "
                                 f"{len(units)} unit(s) to build its entry from")
            width = units[entry_units - 1].width if units else c
            projected = projection == "always" or (projection == "first" and not merged) or width != c
            if t == "stride":  # the mirrored strided block upsamples itself
                transition = make_unit(spec, c, rest.pop(0), "up", up=up, project=projected)
                merge_up = None
            else:  # a pooling step: [1x1 unit], then the merge upsamples
                transition = Projection(c, width, style, project=projected, **kw)
                merge_up = up(width)
            if spec.stem is not None:
                entry = make_stem(spec, cin, width, 1)
            elif entry_units == 1:
                entry = ConvUnit(cin, width, units[0].kernel if units else 3, "post", **kw)
            else:
                chain, ce = [], cin
                for u in units[:entry_units]:
                    chain.append(ConvUnit(ce, u.width, u.kernel, "post", **kw))
                    ce = u.width
                entry = nn.Sequential(*chain)
            merge_kw = kw if bn is None else {**kw, "bn_momentum": bn[0], "bn_eps": bn[1]}
            merge_mod = Merge(width, merge, style, dropout=p, up=merge_up, **merge_kw)
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
    if head == "segmentation":
        head_mod: nn.Module = SegmentationHead(c, spec.num_classes, **kw)
    else:
        head_mod = make_head(spec, c)
    config = dict(arrangement=arrangement, merge=merge, upsample=upsample, downscale=downscale,
                  inputs=inputs, ring_radii=radii, projection=projection,
                  widths=tuple(widths) if widths else None,
                  uni_width=uni_width, entry_units=entry_units, head=head)
    net = TopDownNet(spec, plan, config, stem, steps, head_mod)
    init_weights_(net, spec.init)
    return net


def _ring_radii(spec: BUSpec, inputs: str, ring_radii: Sequence[float] | None,
                downscale: str) -> tuple[float, ...] | None:
    """Checked ring radii of ``inputs="fourier_rings"`` (None for the other inputs)."""
    if inputs != "fourier_rings":
        if ring_radii is not None:
            raise ValueError(f"ring_radii applies to inputs='fourier_rings' only, got inputs={inputs!r}")
        return None
    if downscale != "tf":
        raise ValueError(f"downscale={downscale!r} does not apply to inputs='fourier_rings': its bands are "
                         "subsampled exactly in the Fourier domain (leave downscale at 'tf')")
    radii = DEFAULT_RING_RADII if ring_radii is None else tuple(ring_radii)
    if isinstance(ring_radii, (str, bytes)) or not all(
            isinstance(r, numbers.Real) and not isinstance(r, bool) and math.isfinite(r) for r in radii):
        raise ValueError(f"ring_radii must be a sequence of finite numbers (cycles per image), got {ring_radii!r}")
    radii = tuple(float(r) for r in radii)
    levels = spec.downsamplings + 1
    if len(radii) + 1 != levels:
        raise ValueError(f"{spec.name}: inputs='fourier_rings' needs one Fourier band per pyramid level "
                         f"({levels} levels = BU downsamplings + 1), i.e. {levels - 1} ring radii; got "
                         f"{len(radii)} radii {list(radii)} ({len(radii) + 1} bands)")
    if any(r < 0 for r in radii) or any(b <= a for a, b in itertools.pairwise(radii)):
        raise ValueError(f"ring_radii must be >= 0 and strictly increasing (cycles per image), got {list(radii)}")
    return radii


def per_scale_twin(td: TopDownNet) -> TopDownNet:
    """The per-scale-input version of a single-input TD network, with the same weights."""
    if td.config["inputs"] == "fourier_rings":
        raise ValueError("per_scale_twin needs a blur-pyramid TD network; this one takes Fourier ring bands")
    cfg = {k: v for k, v in td.config.items() if k != "inputs"}
    twin = to_topdown(td.spec, inputs="per_scale", **cfg)
    twin.load_state_dict(td.state_dict())
    return twin.train(td.training)

