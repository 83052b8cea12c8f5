"""Speed levers for training and inference, each measured by ``python -m tdlib bench``.

- :func:`tune_allocator`: keep freed memory in the process heap (glibc). PyTorch's CPU
  allocator returns each large activation to the operating system and takes page faults
  to get it back on the next step; on the 2-core machines of this project that cost up to
  half of the run time (NIN-light TD inference: 770 -> 1,755 images/s from this alone).
- :func:`to_channels_last`: NHWC memory layout, which oneDNN convolutions prefer for
  wide layers (NIN); narrow nets (LeNetFC, 6-16 channels) are faster in NCHW.
- :func:`fold_batchnorm`: inference copy with every BatchNorm that directly follows a
  convolution folded into it (the eval-mode function, up to float rounding).
- :func:`prepare_inference` and :func:`predict`: the fast way to evaluate a network (test
  passes, attacks, Grad-CAM): a folded, channels-last-where-it-pays copy that takes
  ordinary inputs and leaves the caller's network untouched.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import sys
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .nets.layers import BasicBlock, ConvUnit, PreActBlock

_ALLOCATOR_TUNED = False
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters (malloc.h)


def tune_allocator() -> bool:
    """Stop glibc from returning freed activations to the OS (no-op elsewhere).

    Sets ``M_MMAP_MAX = 0`` (large blocks come from the heap, not fresh ``mmap`` pages)
    and a huge ``M_TRIM_THRESHOLD`` (the heap is not trimmed after each free). The process
    keeps its peak memory instead of paying page faults on every step. Idempotent.

    Returns:
        Whether the settings were applied (``False`` on non-glibc platforms).
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        # mallopt takes a C int: 2**31 - 1 bytes is the largest threshold (1 << 40 would wrap to 0).
        ok = libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1 and libc.mallopt(_M_MMAP_MAX, 0) == 1
    except (OSError, AttributeError):
        return False
    _ALLOCATOR_TUNED = bool(ok)
    return _ALLOCATOR_TUNED


def tuned_allocator() -> bool:
    """Whether :func:`tune_allocator` has been applied in this process."""
    return _ALLOCATOR_TUNED


def use_channels_last(model: nn.Module) -> bool:
    """Whether NHWC pays off: unless a BatchNorm of the body has fewer than 16 channels.

    The output BatchNorm (the last one registered: the head's, or FCN's on its 12 score maps)
    is one layer and does not count. Measured on the 2-core CPU: NHWC speeds up the
    convolutions of every model here, but PyTorch's NHWC BatchNorm on few channels is about
    4x slower than NCHW (6 channels, 128x28x28: 4.0 ms against 1.1 ms forward + backward),
    which outweighs that in LeNetFC (6-channel layers at full resolution). NIN-light trains
    1.4x faster in NHWC, FCN 1.2x (a batch of 128 meshes: 4.6 s against 5.5 s per step).
    """
    widths = [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return min(widths[:-1], default=16) >= 16


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert the parameters of ``model`` to NHWC in place; returns the model."""
    return model.to(memory_format=torch.channels_last)


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    conv.weight, conv.bias = w, b


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with BatchNorm folded into the preceding convolutions.

    Folds conv -> BN pairs of :class:`~tdlib.nets.layers.ConvUnit` (post-activation),
    :class:`~tdlib.nets.layers.PreActBlock` (first conv -> second BN) and
    :class:`~tdlib.nets.layers.BasicBlock`. Pre-activation BNs (BN -> ReLU -> conv) stay.
    The copy computes the same function as ``model.eval()`` up to rounding.
    """
    model = copy.deepcopy(model).eval()
    for m in model.modules():
        if isinstance(m, ConvUnit) and m.style == "post" and isinstance(m.bn, nn.BatchNorm2d):
            _fold(m.conv, m.bn)
            m.bn = nn.Identity()
        elif isinstance(m, PreActBlock) and isinstance(m.bn2, nn.BatchNorm2d):
            _fold(m.conv1, m.bn2)
            m.bn2 = nn.Identity()
        elif isinstance(m, BasicBlock):
            _fold(m.conv1, m.bn1)
            _fold(m.conv2, m.bn2)
            m.bn1, m.bn2 = nn.Identity(), nn.Identity()
            if m.downsample is not None:
                _fold(m.downsample[0], m.downsample[1])
                m.downsample[1] = nn.Identity()
    return model


def prepare_training(model: nn.Module) -> bool:
    """Tune the allocator (CPU) and switch ``model`` to NHWC where it pays off, in place.

    Returns:
        Whether the model is now channels-last; inputs should then be converted with
        ``x.contiguous(memory_format=torch.channels_last)``.
    """
    device = next(model.parameters()).device
    if device.type == "cpu":
        tune_allocator()
    channels_last = use_channels_last(model)
    if channels_last:
        to_channels_last(model)
    return channels_last


class InferenceModel(nn.Module):
    """An eval-only fast copy of a network (see :func:`prepare_inference`).

    Call it as the network: ``(B, C, H, W)`` images, or a sequence of them for a per-scale
    TD network, in any memory layout; it converts them with :meth:`to_layout`. Gradients
    flow through it (attacks may differentiate with respect to the input); for
    intermediate features call ``fast.net.features(fast.to_layout(x))``. It cannot be put
    back into training mode: its BatchNorms are folded.

    Attributes:
        net: The folded copy.
        channels_last: Whether ``net`` runs in NHWC.
    """

    def __init__(self, model: nn.Module, channels_last: bool | None = None) -> None:
        super().__init__()
        if next(model.parameters()).device.type == "cpu":
            tune_allocator()
        net = fold_batchnorm(model)
        self.channels_last = use_channels_last(net) if channels_last is None else channels_last
        self.net = net.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        self.eval()

    def to_layout(self, x: Tensor | Sequence[Tensor]) -> Tensor | list[Tensor]:
        """``x`` (or each tensor of a sequence) in the memory layout of :attr:`net`."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        if isinstance(x, Tensor):
            return x.contiguous(memory_format=fmt)
        return [xi.contiguous(memory_format=fmt) for xi in x]

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        return self.net(self.to_layout(x))

    def train(self, mode: bool = True) -> InferenceModel:
        if mode:
            raise RuntimeError("an InferenceModel cannot train (its BatchNorm is folded); train the original network")
        return super().train(False)


def prepare_inference(model: nn.Module, channels_last: bool | None = None) -> InferenceModel:
    """The fast way to run a network in eval mode, without changing ``model``.

    A copy with BatchNorm folded into the convolutions (:func:`fold_batchnorm`) and NHWC
    weights where that pays off (:func:`use_channels_last`, decided after folding); on the
    CPU the allocator is tuned too (:func:`tune_allocator`, process-wide). Its
    scores equal ``model.eval()``'s up to float rounding. Make it once and call it many
    times (an attack's queries); ``python -m tdlib bench`` measures exactly this.

    Args:
        model: The network (any mode; not modified). An :class:`InferenceModel` is returned as is.
        channels_last: Force the layout (default: the rule of :func:`use_channels_last`).
    """
    if isinstance(model, InferenceModel):
        return model
    return InferenceModel(model, channels_last)


@torch.inference_mode()
def predict(model: nn.Module, x: Tensor | Sequence[Tensor], batch_size: int = 512, fast: bool = True) -> Tensor:
    """Eval-mode scores of ``model`` on ``x``, in batches, without changing ``model``.

    Args:
        model: The network, or an :class:`InferenceModel` made once by :func:`prepare_inference`.
        x: Images ``(N, C, H, W)`` on the model's device, or a sequence of such tensors (a
            per-scale TD network).
        batch_size: Images per forward pass.
        fast: Run the :func:`prepare_inference` copy; ``False``: ``model`` itself in eval
            mode (its train/eval mode is restored afterwards).

    Returns:
        Scores ``(N, num_classes)``.
    """
    xs = [x] if isinstance(x, Tensor) else list(x)
    n = xs[0].shape[0]
    net = prepare_inference(model) if fast else model
    training = net.training
    net.eval()
    try:
        out = []
        for i in range(0, max(n, 1), batch_size):
            batch = [t[i : i + batch_size] for t in xs]
            out.append(net(batch[0] if isinstance(x, Tensor) else batch))
    finally:
        net.train(training)
    return torch.cat(out)
