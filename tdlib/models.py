"""The bottom-up (BU) model zoo, its builder and the model registry.

Every BU network is a :class:`~tdlib.spec.BUSpec` (stages, units, head) built by
:func:`build_bottomup`; its top-down twins come from :func:`tdlib.topdown.to_topdown`
reading the same description. The registry follows torchvision/timm::

    >>> from tdlib import get_model, list_models
    >>> list_models()
    ['lenetfc', 'nin', 'nin_light', 'resnet18_light', 'resnet32']
    >>> bu = get_model("nin_light")               # the paper's "NIN", 28x28x1
    >>> td = get_model("nin_light", variant="td")  # its top-down twin

Architectures follow the authors' Keras code layer by layer (experiments.md §3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .layers import (
    BasicBlock,
    ConvHead,
    ConvUnit,
    Dropout,
    LinearHead,
    MaxPool,
    PreActBlock,
    init_weights_,
)
from .spec import BUSpec, Stage, Stem, Unit

Variant = Literal["bu", "td", "uni", "rev"]
VARIANTS: tuple[str, ...] = ("bu", "td", "uni", "rev")


# --------------------------------------------------------------------------- building


def unit_kwargs(spec: BUSpec) -> dict[str, Any]:
    """Layer settings shared by every unit of a network."""
    return dict(bias=spec.bias, bn_momentum=spec.bn_momentum, bn_eps=spec.bn_eps, padding=spec.padding)


def style_of(spec: BUSpec) -> Literal["post", "pre"]:
    """Order of conv units: pre-activation nets put BN -> ReLU before each convolution."""
    return "pre" if spec.unit == "preact" else "post"


def make_unit(spec: BUSpec, cin: int, unit: Unit, mode: Literal["same", "down", "up"] = "same",
              up: Callable[[int], nn.Module] | None = None) -> nn.Module:
    """Build one :class:`~tdlib.spec.Unit` of ``spec`` as a module.

    Args:
        spec: The network description (unit kind and layer settings).
        cin: Input channels.
        unit: Width and kernel.
        mode: ``"down"`` halves the resolution (stride 2), ``"up"`` doubles it (TD only).
        up: Upsampling factory for ``mode="up"``.
    """
    kw = unit_kwargs(spec)
    if spec.unit == "conv":
        if mode == "up":
            raise ValueError("a conv unit cannot upsample; TD steps use Projection + Merge")
        return ConvUnit(cin, unit.width, unit.kernel, "post", stride=2 if mode == "down" else 1, **kw)
    block = PreActBlock if spec.unit == "preact" else BasicBlock
    return block(cin, unit.width, mode, up=up, **kw)


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


class BottomUpNet(nn.Module):
    """A BU classifier built from a :class:`~tdlib.spec.BUSpec`.

    Input ``(B, C, H, W)`` with ``H`` and ``W`` divisible by ``2 ** spec.downsamplings``;
    output ``(B, num_classes)`` scores (apply softmax / cross-entropy outside).

    Attributes:
        spec: The description, read by :func:`tdlib.topdown.to_topdown`.
        stem: Stem module or ``None``.
        stages: One ``nn.Sequential`` per stage (downsampling op first).
        head: Classifier head.
    """

    def __init__(self, spec: BUSpec) -> None:
        super().__init__()
        self.spec = spec
        c = spec.in_channels
        self.stem = None
        if spec.stem is not None:
            self.stem = make_stem(spec, c, spec.stem.width, spec.stem.stride)
            c = spec.stem.width
        stages = []
        for stage in spec.stages:
            layers: list[nn.Module] = []
            units = list(stage.units)
            if stage.down in ("pool2", "pool3"):
                layers.append(MaxPool(2 if stage.down == "pool2" else 3, spec.padding))
            elif stage.down == "stride":
                layers.append(make_unit(spec, c, units.pop(0), "down"))
                c = stage.units[0].width
            if stage.dropout > 0:
                layers.append(Dropout(stage.dropout))
            for u in units:
                layers.append(make_unit(spec, c, u))
                c = u.width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.head = make_head(spec, c)
        init_weights_(self, spec.init)

    def features(self, x: Tensor) -> list[Tensor]:
        """Feature maps after each stage, finest first: a list of ``(B, C_s, H_s, W_s)``."""
        check_input(x, self.spec)
        h = self.stem(x) if self.stem is not None else x
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)[-1])


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


def build_bottomup(spec: BUSpec) -> BottomUpNet:
    """Build the BU network of a description."""
    return BottomUpNet(spec)


# --------------------------------------------------------------------------- the zoo


def lenetfc_spec(in_channels: int = 1, num_classes: int = 10, paper_variant: bool = False) -> BUSpec:
    """LeNetFC: fully convolutional LeNet (experiments.md §3.1), 28x28x1.

    Args:
        paper_variant: Add a 1x1-32 conv unit before the head. No input shape or counting
            convention gives the paper's Table 1 count of 8,790 for the authors' code
            (7,670); one such layer is exactly the difference (1,120). An inference.
    """
    last = (Unit(32, 3), Unit(32, 1)) if paper_variant else (Unit(32, 3),)
    return BUSpec(
        name="lenetfc", in_channels=in_channels, num_classes=num_classes,
        stages=(
            Stage((Unit(6, 5),)),
            Stage((Unit(16, 5),), down="pool2"),
            Stage(last, down="pool2"),
        ),
    )


def _nin(name: str, widths: tuple[tuple[int, ...], ...], in_channels: int, num_classes: int) -> BUSpec:
    s1, s2, s3 = widths
    return BUSpec(
        name=name, in_channels=in_channels, num_classes=num_classes,
        stages=(
            Stage((Unit(s1[0], 5), Unit(s1[1], 1), Unit(s1[2], 1))),
            Stage((Unit(s2[0], 5), Unit(s2[1], 1), Unit(s2[2], 1)), down="pool3", dropout=0.5),
            Stage((Unit(s3[0], 3), Unit(s3[1], 1)), down="pool3", dropout=0.5),
        ),
    )


def nin_light_spec(in_channels: int = 1, num_classes: int = 10) -> BUSpec:
    """The paper's "NIN": Network-in-Network with reduced filters (§3.2), 28x28x1."""
    return _nin("nin_light", ((48, 40, 24), (48, 48, 48), (48, 48)), in_channels, num_classes)


def nin_spec(in_channels: int = 3, num_classes: int = 10) -> BUSpec:
    """The paper's "NINext": the original Network-in-Network (§3.3), 32x32x3."""
    return _nin("nin", ((192, 160, 96), (192, 192, 192), (192, 192)), in_channels, num_classes)


def preact_resnet_spec(
    name: str, widths: tuple[int, ...], blocks: int, *, stem_pool: bool, in_channels: int,
    num_classes: int,
) -> BUSpec:
    """A pre-activation ResNet with Keras settings (he_normal, BN 0.9 / 1e-5, bias, 'SAME').

    Args:
        widths: Channels per group, finest first.
        blocks: Blocks per group.
        stem_pool: A 3x3 stride-2 max-pool after the stem (ResNet18-light).
    """
    stages = []
    for i, w in enumerate(widths):
        down = ("pool3" if stem_pool else None) if i == 0 else "stride"
        stages.append(Stage(tuple(Unit(w) for _ in range(blocks)), down=down))  # type: ignore[arg-type]
    return BUSpec(
        name=name, in_channels=in_channels, num_classes=num_classes, stages=tuple(stages),
        unit="preact", stem=Stem(widths[0], 3, 1, norm_act=False), head="linear",
        bn_momentum=0.1, bn_eps=1e-5, init="he_trunc",
    )


def resnet32_spec(in_channels: int = 3, num_classes: int = 10, n: int = 5) -> BUSpec:
    """Pre-activation ResNet32 (n=5 blocks per group, widths 16/32/64, §3.4), 32x32x3."""
    return preact_resnet_spec(f"resnet{6 * n + 2}", (16, 32, 64), n, stem_pool=False,
                              in_channels=in_channels, num_classes=num_classes)


def resnet18_light_spec(in_channels: int = 3, num_classes: int = 10) -> BUSpec:
    """The light pre-activation ResNet18 for Imagenette (§3.5): halved widths, 3x3 stem, 128x128x3."""
    return preact_resnet_spec("resnet18_light", (32, 64, 128, 256), 2, stem_pool=True,
                              in_channels=in_channels, num_classes=num_classes)


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry.

    Attributes:
        name: Registry name.
        spec: Factory of the BU description (accepts ``in_channels``, ``num_classes``).
        input_shape: The input ``(C, H, W)`` of the paper's experiments.
        paper_name: Name in the paper's Table 1.
        summary: One line.
        paper_variant: TD builder options of the paper-implied variant per TD variant
            (see :func:`get_model`).
    """

    name: str
    spec: Callable[..., BUSpec]
    input_shape: tuple[int, int, int]
    paper_name: str
    summary: str
    paper_variant: dict[str, dict[str, Any]]


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> ModelInfo:
    """Add a model to the registry (names are unique)."""
    if info.name in _REGISTRY:
        raise ValueError(f"model {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


for _info in (
    ModelInfo("lenetfc", lenetfc_spec, (1, 28, 28), "LeNetFC",
              "fully convolutional LeNet (MNIST, Fashion-MNIST)", {"bu": {"paper_variant": True}}),
    ModelInfo("nin_light", nin_light_spec, (1, 28, 28), "NIN",
              "Network-in-Network with reduced filters (MNIST, Fashion-MNIST)",
              {"td": {"projection": "first"}, "uni": {"projection": "first"}}),
    ModelInfo("nin", nin_spec, (3, 32, 32), "NINext", "Network-in-Network (CIFAR-10)",
              {"td": {"projection": "first"}, "uni": {"projection": "first"}}),
    ModelInfo("resnet32", resnet32_spec, (3, 32, 32), "ResNet",
              "pre-activation ResNet32, n=5 (CIFAR-10)", {}),
    ModelInfo("resnet18_light", resnet18_light_spec, (3, 128, 128), "ResNet18 (light)",
              "pre-activation ResNet18 with halved widths (Imagenette)", {}),
):
    register_model(_info)


def list_models() -> list[str]:
    """Names of the registered BU architectures, sorted."""
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; a ValueError lists the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(list_models())}") from None


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
            to :func:`tdlib.topdown.to_topdown` (``merge``, ``upsample``, ``downscale``,
            ``inputs``, ``widths``, ...).

    Returns:
        An ``nn.Module`` mapping ``(B, C, H, W)`` to ``(B, num_classes)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    spec_keys = {"in_channels", "num_classes"}
    spec_cfg = {k: v for k, v in cfg.items() if k in spec_keys}
    td_cfg = {k: v for k, v in cfg.items() if k not in spec_keys}
    spec = get_spec(name, paper_variant and variant == "bu", **spec_cfg)
    if variant == "bu":
        if td_cfg:
            raise ValueError(f"options {sorted(td_cfg)} apply to TD variants only")
        return build_bottomup(spec)
    from .topdown import to_topdown

    if paper_variant:
        td_cfg = {**model_info(name).paper_variant.get(variant, {}), **td_cfg}
    return to_topdown(spec, arrangement=variant, **td_cfg)


# --------------------------------------------------------------------------- torchvision


def describe(model: nn.Module) -> BUSpec:
    """Read the description of a supported network.

    Accepts a :class:`BottomUpNet` (returns its spec) or a torchvision ResNet built from
    ``BasicBlock`` (``resnet18``, ``resnet34``). The returned description builds a BU
    network with the same layers and parameter count, whose weights load from the
    torchvision model in order (see :func:`load_torchvision_weights`).

    Raises:
        TypeError: For a model this function cannot read.
    """
    if isinstance(model, BottomUpNet):
        return model.spec
    from torchvision.models.resnet import BasicBlock as TVBasic
    from torchvision.models.resnet import ResNet

    if not isinstance(model, ResNet):
        raise TypeError(
            f"cannot describe {type(model).__name__}; expected a tdlib BottomUpNet or a "
            "torchvision ResNet with BasicBlock (resnet18, resnet34), or pass a BUSpec"
        )
    groups = [model.layer1, model.layer2, model.layer3, model.layer4]
    if not all(isinstance(b, TVBasic) for g in groups for b in g):
        raise TypeError("only torchvision ResNets made of BasicBlock (resnet18/34) are supported; "
                        "Bottleneck ResNets (resnet50 and up) are not")
    conv1, bn1 = model.conv1, model.bn1
    stages = []
    for i, g in enumerate(groups):
        down = "pool3" if i == 0 else "stride"
        stages.append(Stage(tuple(Unit(b.conv1.out_channels) for b in g), down=down))  # type: ignore[arg-type]
    return BUSpec(
        name="torchvision_resnet", in_channels=conv1.in_channels, num_classes=model.fc.out_features,
        stages=tuple(stages), unit="basic",
        stem=Stem(conv1.out_channels, conv1.kernel_size[0], conv1.stride[0], norm_act=True),
        head="linear", bias=conv1.bias is not None, bn_momentum=bn1.momentum or 0.1,
        bn_eps=bn1.eps, padding="torch", init="torch",
    )


def load_torchvision_weights(net: BottomUpNet, tv_model: nn.Module) -> BottomUpNet:
    """Copy the weights of a torchvision ResNet into the BU net built from its description.

    Both register parameters and buffers in the same order, so they are copied by position
    after checking every shape.
    """
    dst = list(net.state_dict().items())
    src = list(tv_model.state_dict().items())
    if len(dst) != len(src):
        raise ValueError(f"state sizes differ: {len(dst)} tensors vs {len(src)} in the torchvision model")
    new = {}
    for (kd, vd), (ks, vs) in zip(dst, src, strict=True):
        if vd.shape != vs.shape:
            raise ValueError(f"shape mismatch: {kd} {tuple(vd.shape)} vs {ks} {tuple(vs.shape)}")
        new[kd] = vs
    net.load_state_dict(new)
    return net


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


def with_widths(spec: BUSpec, widths: tuple[int, ...]) -> BUSpec:
    """A copy of ``spec`` with every unit of stage ``i`` set to ``widths[i]`` channels."""
    if len(widths) != len(spec.stages):
        raise ValueError(f"{spec.name}: {len(spec.stages)} stage widths expected, got {len(widths)}")
    stages = tuple(
        replace(s, units=tuple(replace(u, width=w) for u in s.units)) for s, w in zip(spec.stages, widths, strict=True)
    )
    return replace(spec, stages=stages)


def dummy_input(name: str, batch: int = 2) -> Tensor:
    """A random input of the registered model's paper input shape."""
    return torch.rand(batch, *model_info(name).input_shape)
