"""Which layers of a network Grad-CAM can look at: names, resolutions, the paper's ``act_k``.

A layer is named as in ``model.named_modules()``: ``"stages.1.0"``, ``"steps.2.merge"``,
``"head.unit"``, ``"stages.1.0.act1"`` (the input activation ReLU of a pre-activation
block), ``"head.act"`` (the ReLU before a ResNet's pooling).

:func:`layers` lists, in the order of the forward pass (for a TD network: coarse to fine),
the feature maps a reader would pick: every unit (conv -> BN -> ReLU, residual block, merge,
head conv) that is not part of a larger unit, and the ReLUs of pre-activation blocks and
heads (the authors' ``act_k`` of their ResNets, experiments.md §3.5, §7). ``all=True`` lists
every submodule with a 4-D output. :func:`paper_layers` maps the authors' Grad-CAM layer
names ``act_1``, ``act_2``, ... to ours.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..nets import BottomUpNet, TopDownNet, list_models, model_info
from ..nets.layers import BasicBlock, ConvHead, ConvUnit, LinearHead, Merge, PreActBlock, SegmentationHead
from ..speed import InferenceModel

#: Module types that make one feature map of a tdlib network (listed unless inside another).
UNITS = (ConvUnit, PreActBlock, BasicBlock, Merge, SegmentationHead)


@dataclass(frozen=True)
class Layer:
    """One feature map Grad-CAM can use.

    Attributes:
        name: What :func:`~tdlib.explain.grad_cam` takes.
        kind: The module's class.
        channels, height, width: Its output for the input shape :func:`layers` was given.
        paper: The authors' Keras name (``"act_1"``...) when it is one of their Grad-CAM
            layers (:func:`paper_layers`), else ``None``.
    """

    name: str
    kind: str
    channels: int
    height: int
    width: int
    paper: str | None = None

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)``."""
        return self.height, self.width


def core(model: nn.Module) -> nn.Module:
    """The network whose submodules layer names refer to (an :class:`InferenceModel`'s copy)."""
    return model.net if isinstance(model, InferenceModel) else model


def activations(model: nn.Module) -> list[str]:
    """Names of the ReLU modules of pre-activation blocks (``act1``) and heads (``act``)."""
    out = []
    for name, m in core(model).named_modules():
        if isinstance(m, PreActBlock):
            out.append(f"{name}.act1")
        elif isinstance(m, LinearHead) and m.act is not None:
            out.append(f"{name}.act")
    return out


def _has_units(net: nn.Module) -> bool:
    return any(isinstance(m, UNITS) for m in net.modules())


def layer_names(model: nn.Module, *, all: bool = False) -> list[str]:  # noqa: A002
    """Names :func:`layers` would list, without running the network (registration order).

    Units (:data:`UNITS`) not nested in another unit, and the ReLUs of :func:`activations`;
    for a network without tdlib units, or with ``all=True``, every submodule.
    """
    net = core(model)
    mods = dict(net.named_modules())
    every = all or not _has_units(net)

    def listed(name: str) -> bool:
        if not name:
            return False
        if every:
            return True
        parts = name.split(".")
        return isinstance(mods[name], UNITS) and not any(
            isinstance(mods[".".join(parts[:i])], UNITS) for i in range(1, len(parts)))

    acts = set(activations(net))
    return [n for n in mods if n in acts or listed(n)]


def resolve(model: nn.Module, name: str) -> nn.Module:
    """The module of a layer name.

    Raises:
        ValueError: Unknown name; the message lists the valid ones.
    """
    net = core(model)
    if not isinstance(name, str):
        raise ValueError(f"a layer name must be a string, got {name!r}")
    modules = dict(net.named_modules())
    if name and name in modules:
        return modules[name]
    valid = layer_names(net)
    shown = ", ".join(valid[:60]) + (f", ... ({len(valid)} in all)" if len(valid) > 60 else "")
    extra = ("; any other submodule with a 4-D output is accepted too (layers(model, all=True))"
             if _has_units(net) else "")
    raise ValueError(f"unknown layer {name!r} of {type(net).__name__}; valid layers: {shown}{extra}")


def default_input_shape(model: nn.Module) -> tuple[int, int, int]:
    """The paper's input ``(C, H, W)`` of a registered tdlib network (found by its description's name).

    Raises:
        ValueError: For a network that is not built from a registered description.
    """
    spec = getattr(core(model), "spec", None)
    if spec is not None:
        for name in list_models(None):
            info = model_info(name)
            if info.spec().name == spec.name:
                return (spec.in_channels, *info.input_shape[1:])
    raise ValueError(f"cannot tell the input shape of a {type(core(model)).__name__}; pass input_shape=(C, H, W)")


def _first_block(seq: nn.Module) -> str | None:
    for name, m in seq.named_children():
        if isinstance(m, PreActBlock):
            return name
    return None


def _last_unit(seq: nn.Module) -> str | None:
    names = [n for n, m in seq.named_children() if isinstance(m, UNITS)]
    return names[-1] if names else None


def paper_layers(model: nn.Module) -> dict[str, str]:
    """The authors' Grad-CAM layers ``act_1``, ``act_2``, ... as our layer names (experiments.md §3, §7).

    - LeNetFC, NIN-light and NIN (conv units, conv head): ``act_k`` is the output of BU stage
      ``k`` (TD: of TD step ``k``, coarsest first), i.e. its last unit; the last ``act`` is the
      head's conv1x1(classes) -> BN -> ReLU (``"head.unit"``). LeNetFC BU: act_1..act_4 =
      c5-6, c5-16, c3-32, c1-10; NIN-light BU act_4 is 7x7, TD act_4 28x28.
    - Pre-activation ResNets (ResNet18-light, ResNet32): ``act_k`` is the pre-activation
      ReLU (``act1``) of the first block of group ``k`` (TD: of step ``k``: the up-block's, or
      the first block after the merge), the "input activation of each group"; the last is
      the head's BN -> ReLU (``"head.act"``). The original names them only in ResNet18 (Imagenette);
      ResNet32 gets the same rule.

    Returns:
        ``{"act_1": name, ...}``, or an empty dict for other networks (segmentation nets,
        torchvision-style ResNets), which the authors ran no Grad-CAM on.
    """
    net = core(model)
    out: dict[str, str] = {}
    if isinstance(net, BottomUpNet):
        groups = [(f"stages.{i}", s) for i, s in enumerate(net.stages)]
    elif isinstance(net, TopDownNet) and not isinstance(net.head, SegmentationHead):
        groups = [(f"steps.{i}", s) for i, s in enumerate(net.steps)]
    else:
        return out
    if isinstance(net.head, ConvHead):
        for k, (prefix, g) in enumerate(groups, 1):
            seq, sub = (g.units, ".units") if isinstance(net, TopDownNet) else (g, "")
            last = _last_unit(seq)
            if last is None:
                return {}
            out[f"act_{k}"] = f"{prefix}{sub}.{last}"
        out[f"act_{len(groups) + 1}"] = "head.unit"
        return out
    if isinstance(net.head, LinearHead) and net.head.act is not None and net.spec.unit == "preact":
        for k, (prefix, g) in enumerate(groups, 1):
            if isinstance(net, TopDownNet) and isinstance(g.transition, PreActBlock):
                name = f"{prefix}.transition"
            else:
                seq, sub = (g.units, ".units") if isinstance(net, TopDownNet) else (g, "")
                first = _first_block(seq)
                if first is None:
                    return {}
                name = f"{prefix}{sub}.{first}"
            out[f"act_{k}"] = f"{name}.act1"
        out[f"act_{len(groups) + 1}"] = "head.act"
    return out


class _Probe:
    """Forward hooks on every submodule that record their 4-D outputs in firing order; removed on exit."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.seen: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.calls: dict[str, int] = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> _Probe:
        try:
            for name, m in self.net.named_modules():
                if name:
                    self.handles.append(m.register_forward_hook(self._hook(name, m)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _hook(self, name: str, module: nn.Module):  # noqa: ANN202
        def hook(mod: nn.Module, inp: object, out: object) -> None:
            self.calls[name] = self.calls.get(name, 0) + 1
            if isinstance(out, Tensor) and out.dim() == 4:
                self.seen.setdefault(name, (type(module).__name__, tuple(out.shape)))
        return hook

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def _modes(net: nn.Module) -> Iterator[tuple[nn.Module, bool]]:
    for m in net.modules():
        yield m, m.training


def layers(model: nn.Module, input_shape: tuple[int, int, int] | None = None, *,
           all: bool = False) -> list[Layer]:  # noqa: A002
    """The layers Grad-CAM can use, in the order the forward pass computes them.

    Runs the network once (eval mode, no gradients, one zero image; its modes are restored).
    For a TD network the order is coarse to fine: the steps run from the coarsest input
    scale to the full resolution (an entry conv on a finer pyramid level is listed where its
    step uses it).

    Args:
        model: A tdlib network (BU, TD, segmentation), an :class:`~tdlib.speed.InferenceModel`
            of one, or any ``nn.Module`` taking one image batch (every submodule is listed).
        input_shape: ``(C, H, W)`` of the image; default: the paper's input of a registered
            tdlib network (resolutions depend on it: a 56x56 mesh doubles them).
        all: Every submodule with a 4-D output (convolutions, BatchNorms, pools, ...), not
            just the units. A submodule that runs more than once per pass is left out: its
            output is not one feature map.

    Returns:
        One :class:`Layer` per feature map, with the authors' ``act_k`` name where there is one.
    """
    net = core(model)
    shape = tuple(input_shape) if input_shape is not None else default_input_shape(net)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {shape!r}")
    param = next(net.parameters(), None)
    x = torch.zeros(1, *shape, device=param.device if param is not None else None)
    modes = list(_modes(net))
    net.eval()
    try:
        with _Probe(net) as probe, torch.no_grad():
            model(x) if isinstance(model, InferenceModel) else net(x)
    finally:
        for m, mode in modes:
            m.training = mode
    keep = set(layer_names(net, all=all))
    acts = {v: k for k, v in paper_layers(net).items()}
    out = []
    for name, (kind, s) in probe.seen.items():
        if name not in keep or probe.calls.get(name, 0) != 1:
            continue
        out.append(Layer(name, kind, s[1], s[2], s[3], acts.get(name)))
    return out
