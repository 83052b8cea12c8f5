"""Building blocks shared by the bottom-up models and the top-down builder.

Everything here follows the conventions of the authors' Keras code (see
``shared/reference/experiments.md`` §2.3) unless a module is built for a torchvision
network: bias on every convolution, Keras BatchNorm settings, TensorFlow 'SAME' padding
for stride-2 layers, and the add + concat resolution merge of the paper (option 3).

Three layers compute the original's result by another route, for speed: :class:`Merge`
(a transposed-convolution rewrite of upsample, add, concat and conv: the same function,
equal up to float rounding), :class:`MaxPool` (maxima of strided views: identical values
and gradients) and :class:`Dropout` (the same keep probability and scaling, drawn from
its own random bits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .spec import Init, Padding

Style = Literal["post", "pre"]
"""Order of a conv unit: ``"post"`` conv -> BN -> ReLU, ``"pre"`` BN -> ReLU -> conv."""

MergeKind = Literal["add", "concat", "add_concat"]
MERGES: tuple[str, ...] = ("add", "concat", "add_concat")
"""The paper's three resolution merges (§3.2, Fig. 3): (1) add, (2) concat + 3x3 conv,
(3) add, then concat with the high-resolution input, then 3x3 conv (the paper's choice)."""

UpsampleMode = Literal["nearest", "bilinear", "transposed"]
UPSAMPLES: tuple[str, ...] = ("nearest", "bilinear", "transposed")


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one spatial axis.

    TensorFlow puts the odd pixel of the padding after the image, so a 3x3 stride-2
    layer on an even size pads (0, 1), not (1, 1).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2d(nn.Conv2d):
    """A convolution with 'same' output size for odd kernels.

    Stride 1 pads ``k // 2`` on every side. Stride 2 pads TensorFlow-style (``padding="tf"``:
    computed from the input size, extra pixel after) or symmetrically (``"torch"``).

    Args:
        cin, cout: Input and output channels.
        kernel: Odd kernel size.
        stride: 1 or 2.
        bias: Whether the convolution has a bias.
        padding: Convention for stride 2.
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, bias: bool = True,
        padding: Padding = "tf",
    ) -> None:
        if kernel % 2 == 0:
            raise ValueError(f"Conv2d needs an odd kernel size, got {kernel}")
        self.tf_pad = stride > 1 and padding == "tf"
        super().__init__(cin, cout, kernel, stride, padding=0 if self.tf_pad else kernel // 2, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.tf_pad:
            (t, b), (lft, r) = (tf_same_pads(s, self.kernel_size[0], self.stride[0]) for s in x.shape[-2:])
            if t == b and lft == r:
                return F.conv2d(x, self.weight, self.bias, self.stride, (t, lft))
            x = F.pad(x, (lft, r, t, b))
        return super().forward(x)


class MaxPool(nn.Module):
    """Max-pooling with stride 2 and 'SAME' output size ``ceil(H / 2)``.

    For kernel 3 with ``padding="tf"`` it equals TensorFlow's 'SAME' max-pool: on an even
    size the window overhangs by one pixel at the end, which ``ceil_mode=True`` reproduces
    exactly without an ``F.pad`` copy; on an odd size TensorFlow pads one pixel per side.

    Args:
        kernel: 2 or 3.
        padding: ``"tf"`` or ``"torch"`` (symmetric ``k // 2``, torchvision's stem pool).
    """

    def __init__(self, kernel: int, padding: Padding = "tf") -> None:
        super().__init__()
        if kernel not in (2, 3):
            raise ValueError(f"MaxPool kernel must be 2 or 3, got {kernel}")
        self.kernel, self.padding = kernel, padding

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel
        h, w = x.shape[-2:]
        even = h % 2 == 0 and w % 2 == 0
        if even and not (torch.is_grad_enabled() and x.requires_grad) and (k == 2 or self.padding == "tf"):
            return _max_pool_strided_slices(x, k)
        if k == 2:
            return _MaxPool2x2.apply(x) if even else F.max_pool2d(x, 2, 2, ceil_mode=True)
        if self.padding == "torch":
            return F.max_pool2d(x, 3, 2, padding=1)
        if even:
            return F.max_pool2d(x, 3, 2, ceil_mode=True)
        (t, b), (lft, r) = tf_same_pads(h, 3, 2), tf_same_pads(w, 3, 2)
        return F.max_pool2d(F.pad(x, (lft, r, t, b), value=-math.inf), 3, 2)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride=2, padding={self.padding!r}"


_BITS = torch.arange(8, dtype=torch.uint8)


class Dropout(nn.Module):
    """Dropout (inverted, as ``nn.Dropout``) with a cheap mask for the paper's p = 0.5.

    For p = 0.5 each random byte gives 8 independent fair coin flips. ``torch.bernoulli_``
    draws one random number per element: on (128, 48, 28, 28) it took 48 ms against 6 ms
    for this mask on the 2-core CPU (19% of a NIN-light TD training step). Other p use
    ``F.dropout``. Randomness comes from the global generator, so ``torch.manual_seed``
    makes it repeatable.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        dense = x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)
        if self.p != 0.5 or not dense:
            return F.dropout(x, self.p, True)
        n = x.numel()
        r = torch.empty((n + 7) // 8, 1, dtype=torch.uint8, device=x.device).random_()
        bits = (r >> _BITS.to(x.device)) & 1
        # Keep with probability 1/2 and scale by 2; the flat mask takes x's strides.
        mask = bits.to(x.dtype).mul_(2.0).view(-1)[:n].as_strided(x.shape, x.stride())
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _max_pool_strided_slices(x: Tensor, kernel: int) -> Tensor:
    """Max-pool of stride 2 ('SAME', even H and W) as maxima of strided views, without autograd.

    ``F.max_pool2d`` also computes the argmax indices, which inference never uses: on
    (512, 6, 28, 28) it took 4.9 ms (NCHW) against 0.4 ms for this. Values are identical.
    """
    if kernel == 2:
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
    rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])  # window rows 2i, 2i+1 ...
    rows[..., :-1, :] = torch.maximum(rows[..., :-1, :], x[..., 2::2, :])  # ... and 2i+2 inside the image
    out = torch.maximum(rows[..., 0::2], rows[..., 1::2])
    out[..., :-1] = torch.maximum(out[..., :-1], rows[..., 2::2])
    return out


class _MaxPool2x2(torch.autograd.Function):
    """2x2 stride-2 max-pool (even H, W) for training, from strided views.

    ``F.max_pool2d`` spent 20% of a LeNetFC training step (NCHW, 6 channels) building its
    index tensor. Backward sends each gradient to the first maximum of its window in
    row-major order, the element ``F.max_pool2d`` selects, so both give identical gradients.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        y = _max_pool_strided_slices(x, 2)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[override]
        x, y = ctx.saved_tensors
        gx = torch.empty_like(x)
        taken = torch.zeros_like(y, dtype=torch.bool)
        for i, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            hit = ~taken if i == 3 else (x[..., r::2, c::2] == y) & ~taken
            gx[..., r::2, c::2] = g * hit
            taken |= hit
        return gx


def batch_norm(channels: int, momentum: float, eps: float) -> nn.BatchNorm2d:
    """BatchNorm with PyTorch momentum semantics (Keras momentum m is PyTorch ``1 - m``)."""
    return nn.BatchNorm2d(channels, eps=eps, momentum=momentum)


class ConvUnit(nn.Module):
    """Conv -> BN -> ReLU (``style="post"``) or BN -> ReLU -> conv (``"pre"``).

    Args:
        cin, cout: Channels.
        kernel: Odd kernel size.
        style: Order of the operations.
        stride: 1 or 2.
        bias: Convolution bias.
        bn_momentum, bn_eps: BatchNorm settings.
        padding: Stride-2 padding convention.
        norm_act: ``False`` gives a bare convolution (pre-activation stems and TD entries).
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, style: Style = "post", *, stride: int = 1,
        bias: bool = True, bn_momentum: float = 0.01, bn_eps: float = 1e-3,
        padding: Padding = "tf", norm_act: bool = True,
    ) -> None:
        super().__init__()
        self.style = style
        self.act = norm_act
        self.conv = Conv2d(cin, cout, kernel, stride, bias, padding)
        bn_channels = cout if style == "post" else cin
        self.bn = batch_norm(bn_channels, bn_momentum, bn_eps) if norm_act else None

    def forward(self, x: Tensor) -> Tensor:
        if not self.act:
            return self.conv(x)
        if self.style == "post":
            return self.activate(self.conv(x))
        return self.conv(F.relu(self.bn(x) if self.bn is not None else x))

    def activate(self, h: Tensor) -> Tensor:
        """BN -> ReLU after the convolution of a post-activation unit."""
        # BatchNorm's backward needs its input, not its output: an in-place ReLU is safe.
        return F.relu_(self.bn(h) if self.bn is not None else h)


UpFactory = Callable[[int], nn.Module]
"""Makes a x2 upsampling module for a given number of channels."""


class Upsample2x(nn.Module):
    """Parameter-free x2 upsampling: ``"nearest"`` (the paper's choice) or ``"bilinear"``."""

    def __init__(self, mode: Literal["nearest", "bilinear"] = "nearest") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        from ..pyramid import upsample

        return upsample(x, 2, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def upsample_factory(mode: UpsampleMode) -> UpFactory:
    """Return a factory of x2 upsampling modules.

    ``"transposed"`` gives a learned 2x2 stride-2 transposed convolution per use (the
    paper rejected it for checkerboard artefacts; it is here for comparison).
    """
    if mode not in UPSAMPLES:
        raise ValueError(f"unknown upsample {mode!r}; expected one of {', '.join(UPSAMPLES)}")
    if mode == "transposed":
        return lambda c: nn.ConvTranspose2d(c, c, 2, stride=2)
    return lambda c: Upsample2x(mode)  # type: ignore[arg-type]


class PreActBlock(nn.Module):
    """Pre-activation residual basic block (the paper's ResNet32 / ResNet18 block).

    ``o = ReLU(BN(x))``; main path ``conv3x3 -> BN -> ReLU -> conv3x3`` on ``o``;
    shortcut ``x``, or a 1x1 projection of ``o`` when the shape changes. The ReLU of ``o``
    is a module (``act1``): it is the block's input activation, the layer the authors'
    Grad-CAM names ``act_k`` (:func:`tdlib.explain.paper_layers`).

    Modes: ``"same"``; ``"down"`` (first conv and projection with stride 2, the BU
    "increase" block); ``"up"`` (the TD mirror: the main path convolves ``up(o)`` and the
    shortcut is ``up(conv1x1(o))``, or ``up(x)`` when the channels match, as in the
    original TD, TDuni and TDrev ResNets; ``project=True`` keeps the 1x1 anyway).

    Args:
        cin, cout: Channels.
        mode: ``"same"``, ``"down"`` or ``"up"``.
        bias, bn_momentum, bn_eps, padding: Layer settings.
        up: Upsampling factory (for ``mode="up"``).
        project: A 1x1 shortcut even when the shape does not change.
    """

    def __init__(
        self, cin: int, cout: int, mode: Literal["same", "down", "up"] = "same", *,
        bias: bool = True, bn_momentum: float = 0.1, bn_eps: float = 1e-5,
        padding: Padding = "tf", up: UpFactory | None = None, project: bool = False,
    ) -> None:
        super().__init__()
        self.mode = mode
        stride = 2 if mode == "down" else 1
        self.bn1 = batch_norm(cin, bn_momentum, bn_eps)
        self.act1 = nn.ReLU()
        self.conv1 = Conv2d(cin, cout, 3, stride, bias, padding)
        self.bn2 = batch_norm(cout, bn_momentum, bn_eps)
        self.conv2 = Conv2d(cout, cout, 3, 1, bias, padding)
        project = project or mode == "down" or cin != cout
        self.shortcut = Conv2d(cin, cout, 1, stride, bias, padding) if project else None
        if mode == "up":
            factory = up or upsample_factory("nearest")
            self.up_main = factory(cin)
            self.up_short = factory(cout if project else cin)

    def forward(self, x: Tensor) -> Tensor:
        o = self.act1(self.bn1(x))
        h = self.conv1(self.up_main(o) if self.mode == "up" else o)
        h = self.conv2(F.relu(self.bn2(h), inplace=True))
        s = self.shortcut(o) if self.shortcut is not None else x
        if self.mode == "up":
            s = self.up_short(s)
        return h + s


class BasicBlock(nn.Module):
    """torchvision's post-activation ``BasicBlock`` with ``"same"``, ``"down"``, ``"up"`` modes.

    Parameter names and order match ``torchvision.models.resnet.BasicBlock`` (conv1, bn1,
    conv2, bn2, downsample), so weights copy over. In ``"up"`` mode the first conv runs on
    ``up(x)`` and the shortcut is ``up(BN(conv1x1(x)))`` or ``up(x)`` (``project=True``:
    always the 1x1).
    """

    def __init__(
        self, cin: int, cout: int, mode: Literal["same", "down", "up"] = "same", *,
        bias: bool = False, bn_momentum: float = 0.1, bn_eps: float = 1e-5,
        padding: Padding = "torch", up: UpFactory | None = None, project: bool = False,
    ) -> None:
        super().__init__()
        self.mode = mode
        stride = 2 if mode == "down" else 1
        self.conv1 = Conv2d(cin, cout, 3, stride, bias, padding)
        self.bn1 = batch_norm(cout, bn_momentum, bn_eps)
        self.conv2 = Conv2d(cout, cout, 3, 1, bias, padding)
        self.bn2 = batch_norm(cout, bn_momentum, bn_eps)
        project = project or mode == "down" or cin != cout
        self.downsample = (
            nn.Sequential(Conv2d(cin, cout, 1, stride, bias, padding), batch_norm(cout, bn_momentum, bn_eps))
            if project else None
        )
        if mode == "up":
            factory = up or upsample_factory("nearest")
            self.up_main = factory(cin)
            self.up_short = factory(cout if project else cin)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(self.up_main(x) if self.mode == "up" else x)
        h = self.conv2(F.relu(self.bn1(h), inplace=True))
        h = self.bn2(h)
        s = self.downsample(x) if self.downsample is not None else x
        if self.mode == "up":
            s = self.up_short(s)
        return F.relu(h + s, inplace=True)


# Rows of the 4x4 transposed-convolution kernel that equals a 3x3 convolution applied to a
# nearest x2 upsampling: output row 2i takes L[i-1] (tap 0) and L[i] (taps 1+2); row 2i+1
# takes L[i] (taps 0+1) and L[i+1] (tap 2). See Merge.
_UP3 = torch.tensor([[0.0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])


class Merge(nn.Module):
    """Resolution merge of the low-resolution stream with a high-resolution input.

    With ``x`` the (upsampled) stream and ``skip`` the entry features of the finer input:

    - ``"add"``: ``x + skip`` (paper option 1; the 1x1 projection happens before, see
      :class:`Projection`);
    - ``"concat"``: ``unit3x3(cat[x, skip])`` (option 2);
    - ``"add_concat"``: ``unit3x3(cat[x + skip, skip])`` (option 3, the paper's choice).

    The 3x3 unit is conv -> BN -> ReLU (``style="post"``) or BN -> ReLU -> conv
    (``"pre"``, ResNets). A dropout follows when ``dropout > 0`` (NIN).

    When the merge upsamples itself (``up`` given, nearest) and its unit starts with the
    convolution, the computation is rewritten exactly: with the conv weight split as
    ``[Wa, Wb]`` over the two concatenated halves,
    ``conv(cat[up(L) + E, E]) = conv_Wa(up(L)) + conv_{Wa+Wb}(E)``, and a 3x3 convolution
    of a nearest x2 upsampling is a 4x4 stride-2 transposed convolution of ``L`` itself.
    That skips the upsampling, the sum and the concatenation and does 28% fewer
    multiply-adds (NIN-light TD: about 10% faster training on the 2-core CPU). The
    parameters are the same ``unit.conv`` weights either way; set ``fuse_upsample = False``
    to compute it literally.

    Args:
        channels: Channels of ``skip`` and of the output (and of ``x``).
        kind: The merge.
        style: Order of the 3x3 unit.
        dropout: Dropout probability after the merge.
        up: x2 upsampling applied to ``x`` first (mirrored pooling); ``None`` when ``x``
            already has the skip's resolution (mirrored strided blocks).
        **unit_kw: Settings of the 3x3 unit (bias, bn_momentum, bn_eps, padding).
    """

    fuse_upsample: bool = True

    def __init__(
        self, channels: int, kind: MergeKind = "add_concat", style: Style = "post",
        dropout: float = 0.0, up: nn.Module | None = None, **unit_kw: object,
    ) -> None:
        super().__init__()
        if kind not in MERGES:
            raise ValueError(f"unknown merge {kind!r}; expected one of {', '.join(MERGES)}")
        self.kind = kind
        self.up = up
        self.unit = None if kind == "add" else ConvUnit(2 * channels, channels, 3, style, **unit_kw)  # type: ignore[arg-type]
        self.dropout = Dropout(dropout) if dropout > 0 else None

    def fusable(self) -> bool:
        """Whether the transposed-convolution rewrite applies (see the class docstring)."""
        return (self.fuse_upsample and self.unit is not None and self.unit.style == "post"
                and isinstance(self.up, Upsample2x) and self.up.mode == "nearest")

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        if self.up is not None and self.fusable():
            if x.shape[:2] != skip.shape[:2] or [2 * s for s in x.shape[2:]] != list(skip.shape[2:]):
                raise ValueError(f"merge expects a stream at half the skip's resolution, got "
                                 f"{tuple(x.shape)} and {tuple(skip.shape)}")
            y = self.unit.activate(self._upsampling_conv(x, skip))  # type: ignore[union-attr]
        else:
            if self.up is not None:
                x = self.up(x)
            if x.shape != skip.shape:
                raise ValueError(
                    f"merge expects the upsampled stream and the skip input to have the same "
                    f"shape, got {tuple(x.shape)} and {tuple(skip.shape)}"
                )
            if self.kind == "add":
                y = x + skip
            elif self.kind == "concat":
                y = self.unit(torch.cat([x, skip], 1))  # type: ignore[misc]
            else:
                y = self.unit(torch.cat([x + skip, skip], 1))  # type: ignore[misc]
        return self.dropout(y) if self.dropout is not None else y

    def _upsampling_conv(self, low: Tensor, skip: Tensor) -> Tensor:
        conv = self.unit.conv  # type: ignore[union-attr]
        c = skip.shape[1]
        wa, wb = conv.weight[:, :c], conv.weight[:, c:]
        w_skip = wa + wb if self.kind == "add_concat" else wb
        a = _UP3.to(dtype=wa.dtype, device=wa.device)
        k = torch.einsum("ta,oiab,sb->iots", a, wa, a)  # (C_in, C_out, 4, 4) for conv_transpose2d
        return F.conv_transpose2d(low, k, None, stride=2, padding=1) + F.conv2d(skip, w_skip, conv.bias, padding=1)


class Projection(nn.Module):
    """The TD mirror of a pooling step, before its upsampling: a 1x1 unit to the new width.

    Identity when the widths match, unless ``project`` forces the unit.

    Args:
        cin, cout: Channels.
        style: Order of the 1x1 unit.
        project: Force the 1x1 unit even when the channels match.
        **unit_kw: Settings of the 1x1 unit.
    """

    def __init__(self, cin: int, cout: int, style: Style = "post", project: bool = False, **unit_kw: object) -> None:
        super().__init__()
        need = project or cin != cout
        self.project = ConvUnit(cin, cout, 1, style, **unit_kw) if need else None  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        return self.project(x) if self.project is not None else x


class ConvHead(nn.Module):
    """conv1x1(num_classes) -> BN -> ReLU -> global average pool (LeNetFC, NIN).

    Returns ``(B, num_classes)`` non-negative scores; the original applies softmax to them.
    """

    def __init__(self, cin: int, num_classes: int, **unit_kw: object) -> None:
        super().__init__()
        self.unit = ConvUnit(cin, num_classes, 1, "post", **unit_kw)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        return self.unit(x).mean((2, 3))


class SegmentationHead(nn.Module):
    """conv1x1(num_classes) -> BN, per pixel, no ReLU and no pooling (the segmentation nets).

    Maps ``(B, cin, H, W)`` to per-pixel scores ``(B, num_classes, H, W)``; the original
    applies a softmax over the channels.

    Args:
        cin: Feature channels.
        num_classes: Output channels.
        bias: Convolution bias.
        bn_momentum, bn_eps: BatchNorm settings.
        padding: Unused (a 1x1 convolution needs none); accepted with the other unit settings.
    """

    def __init__(self, cin: int, num_classes: int, *, bias: bool = True, bn_momentum: float = 0.01,
                 bn_eps: float = 1e-3, padding: Padding = "tf") -> None:
        super().__init__()
        self.conv = Conv2d(cin, num_classes, 1, 1, bias, padding)
        self.bn = batch_norm(num_classes, bn_momentum, bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class LinearHead(nn.Module):
    """[BN -> ReLU] -> global average pool -> Linear (ResNets).

    The ReLU is a module (``act``; ``None`` without ``preact``): the last feature map, the
    authors' last Grad-CAM layer of their ResNets.

    Args:
        cin: Feature channels.
        num_classes: Outputs.
        preact: Apply BN -> ReLU first (pre-activation networks).
        bn_momentum, bn_eps: BatchNorm settings.
    """

    def __init__(
        self, cin: int, num_classes: int, preact: bool, bn_momentum: float = 0.1, bn_eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.bn = batch_norm(cin, bn_momentum, bn_eps) if preact else None
        self.act = nn.ReLU() if preact else None
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.bn is not None:
            x = self.act(self.bn(x))  # type: ignore[misc]
        return self.fc(x.mean((2, 3)))


@torch.no_grad()
def truncated_normal_(w: Tensor, std: float) -> Tensor:
    """Fill ``w`` with a normal of standard deviation ``std`` truncated at two deviations.

    Inverse-CDF sampling, as TensorFlow's truncated normal: ``nn.init.trunc_normal_`` in
    torch 2.14 resamples in a Python loop and takes about 40 ms per ResNet convolution.
    """
    lo, hi = (math.erf(b / math.sqrt(2.0)) for b in (-2.0, 2.0))
    return w.uniform_(lo, hi).erfinv_().mul_(std * math.sqrt(2.0)).clamp_(-2 * std, 2 * std)


def init_weights_(module: nn.Module, scheme: Init) -> nn.Module:
    """Initialise convolutions, linear layers and BatchNorm in place.

    - ``"glorot"``: Keras ``glorot_uniform`` kernels (fan in/out include the kernel area,
      as ``nn.init.xavier_uniform_``), zero biases.
    - ``"he_trunc"``: Keras (TF 1.14) ``he_normal``: a normal truncated at two standard
      deviations with std ``sqrt(2 / fan_in) / 0.87962566`` (the truncation correction),
      zero biases.
    - ``"torch"``: torchvision's ResNet init (kaiming normal, fan_out) for convolutions;
      linear layers keep PyTorch's default.
    BatchNorm: weight 1, bias 0.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "glorot":
                nn.init.xavier_uniform_(m.weight)
            elif scheme == "he_trunc":
                fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
                truncated_normal_(m.weight, math.sqrt(2.0 / fan_in) / 0.87962566103423978)
            elif scheme == "torch":
                if isinstance(m, nn.Linear):
                    continue
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                raise ValueError(f"unknown init {scheme!r}; expected glorot, he_trunc, torch")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module
