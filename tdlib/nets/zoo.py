"""The paper's bottom-up architectures as descriptions (``shared/reference/experiments.md`` §3).

Each function returns the :class:`~tdlib.nets.spec.BUSpec` of one BU network of the
authors' Keras code, registered under a short name in :mod:`tdlib.nets.registry`.
"""

from __future__ import annotations

from dataclasses import replace

from .registry import ModelInfo, register_model
from .spec import KERAS_BN, BUSpec, Stage, Stem, Unit


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
    """The light pre-activation ResNet18 for Imagenette (§3.5): halved widths, 3x3 stem, 128x128x3.

    The TD merge that mirrors the stem's max-pool gets a BatchNorm with Keras defaults
    (:data:`~tdlib.nets.spec.KERAS_BN`), as the original ``ResNet18_TD`` builds it; every
    other BatchNorm has the blocks' momentum 0.1 and eps 1e-5.
    """
    spec = preact_resnet_spec("resnet18_light", (32, 64, 128, 256), 2, stem_pool=True,
                              in_channels=in_channels, num_classes=num_classes)
    first = replace(spec.stages[0], merge_bn=KERAS_BN)
    return replace(spec, stages=(first, *spec.stages[1:]))


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
