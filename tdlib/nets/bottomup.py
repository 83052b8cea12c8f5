"""Bottom-up networks: :class:`BottomUpNet` built from a :class:`~tdlib.nets.spec.BUSpec`, and
:func:`describe`, which reads the description back from a BU net or a torchvision ResNet.
"""

from __future__ import annotations

from torch import Tensor, nn

from .build import check_input, make_head, make_stem, make_unit
from .layers import Dropout, MaxPool, init_weights_
from .spec import BUSpec, Stage, Stem, Unit


class BottomUpNet(nn.Module):
    """A BU classifier built from a :class:`~tdlib.nets.spec.BUSpec`.

    Input ``(B, C, H, W)`` with ``H`` and ``W`` divisible by ``2 ** spec.downsamplings``;
    output ``(B, num_classes)`` scores (apply softmax / cross-entropy outside).

    Attributes:
        spec: The description, read by :func:`tdlib.nets.topdown.to_topdown`.
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


def build_bottomup(spec: BUSpec) -> BottomUpNet:
    """Build the BU network of a description."""
    return BottomUpNet(spec)


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
