"""The attacked model: raw [0, 1] images in, predicted labels out, batched, forward passes counted.

Every attack of :mod:`tdlib.robustness` sees the network through :class:`Classifier`.
Attacks work in raw image space, as the original's foolbox 2 runs did (``bounds=(0, 1)``);
a network trained on mean-subtracted images (CIFAR-10) gets the training mean
subtracted inside, as the original's foolbox ``preprocessing`` did.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..speed import prepare_inference


def check_images(images: Tensor, labels: Tensor | None = None) -> None:
    """Raise a ValueError that says what was expected unless ``images`` is ``(N, C, H, W)`` in [0, 1].

    Args:
        images: Raw images ``(N, C, H, W)``, floats in [0, 1].
        labels: Optional integer labels ``(N,)``.
    """
    if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"expected raw images as a float tensor (N, C, H, W), got {shape}")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"expected raw images in [0, 1] (attacks work in raw pixel space; pass the mean "
                         f"separately for mean-subtracted models), got values in [{lo:.3g}, {hi:.3g}]")
    if labels is not None and (labels.dim() != 1 or labels.shape[0] != images.shape[0]):
        raise ValueError(f"expected labels (N,) = ({images.shape[0]},), got {tuple(labels.shape)}")


class MeanSubtracted(nn.Module):
    """``model(x - mean)``: a network trained on mean-subtracted images, fed raw [0, 1] images.

    Accepts one tensor ``(B, C, H, W)`` or, for a per-scale TD network, a sequence of them.

    Args:
        model: The trained network.
        mean: The per-pixel training mean ``(C, H, W)`` (or anything that broadcasts), or None.
    """

    def __init__(self, model: nn.Module, mean: Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", None if mean is None else mean.detach().clone().float())

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        if self.mean is None:
            return self.model(x)
        if isinstance(x, Tensor):
            return self.model(x - self.mean)
        return self.model([xi - self.mean for xi in x])


class Classifier:
    """A network as attacks see it: raw [0, 1] images in, labels out, in batches, queries counted.

    Args:
        model: The network (put in eval mode; not modified otherwise).
        mean: Training mean to subtract inside (see :class:`MeanSubtracted`), or None.
        batch_size: Images per forward pass.
        device: Where to run; default the model's device.
        fast: Run a BatchNorm-folded inference copy (:func:`tdlib.speed.prepare_inference`), the
            same predictions up to float rounding; ``model`` itself is never changed.

    Attributes:
        module: ``MeanSubtracted(model or its inference copy, mean)`` in eval mode (what foolbox wraps).
        device: Its device.
        queries: Images passed through the network so far.
    """

    def __init__(self, model: nn.Module, mean: Tensor | None = None, batch_size: int = 512,
                 device: torch.device | str | None = None, fast: bool = True) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        first = next(iter(model.parameters()), None)
        self.device = torch.device(device) if device is not None else (
            first.device if first is not None else torch.device("cpu"))
        net = prepare_inference(model).to(self.device) if fast and _has_parameters(model) else model
        self.module = MeanSubtracted(net, mean).to(self.device).eval()
        self.batch_size = batch_size
        self.queries = 0

    @torch.inference_mode()
    def logits(self, images: Tensor) -> Tensor:
        """Scores ``(N, classes)`` of raw images ``(N, C, H, W)``, computed in batches."""
        out = [self.module(images[i : i + self.batch_size].to(self.device))
               for i in range(0, images.shape[0], self.batch_size)]
        self.queries += images.shape[0]
        return torch.cat(out) if out else torch.empty(0, device=self.device)

    def predict(self, images: Tensor) -> Tensor:
        """Predicted labels ``(N,)`` on the images' device."""
        if images.shape[0] == 0:
            return torch.empty(0, dtype=torch.long, device=images.device)
        return self.logits(images).argmax(1).to(images.device)

    def foolbox(self):  # noqa: ANN201  (foolbox is imported lazily)
        """The same network as a foolbox 3 ``PyTorchModel`` with bounds (0, 1)."""
        import foolbox as fb

        return fb.PyTorchModel(self.module, bounds=(0.0, 1.0), device=self.device)


def _has_parameters(model: nn.Module) -> bool:
    return next(iter(model.parameters()), None) is not None
