"""Grad-CAM heatmaps of any layer of a tdlib network, batched (paper §5, Figures 8-10).

Two styles (``shared/reference/experiments.md`` §7):

- ``"original"``: what the authors' ``run_gradcam.py`` computes. The scalar is the
  **softmax probability** of the target class (the Keras model's output); the weights are
  the spatial means of its gradients with respect to the layer, ``cam = sum_k alpha_k A_k``
  with **no ReLU** yet; then, per image, the spatial mean is subtracted, the map divided by
  its L2 norm (+1e-10), resized to the input with **bilinear** interpolation (half-pixel
  centres, as cv2's INTER_LINEAR), passed through a ReLU and divided by its maximum. Only
  above-average regions survive the mean subtraction. A map with no positive value after it
  (a flat one) is all zeros here, where the original divides 0 by 0.
- ``"paper"``: the paper's Eq. 3.3 as the Grad-CAM paper and the ``grad-cam`` package
  (pytorch-grad-cam) compute it: the scalar is the network's **raw score** of the class;
  ``ReLU(sum_k alpha_k A_k)``, min-max normalised, resized bilinearly, min-max normalised
  again (both with pytorch-grad-cam's +1e-7; a test checks ours against that package to 1e-5).

Why not call pytorch-grad-cam for ``"original"``: its GradCAM applies the ReLU first and
min-max scales, while the authors subtract the mean and L2-normalise *before* the ReLU, and
it differentiates whatever the network outputs, while the authors differentiate the softmax
probability; getting the original from it would mean overriding its weighting, its scaling
and its targets, i.e. rewriting all of it but the hooks. It also post-processes one image at
a time in NumPy/OpenCV on the CPU. So tdlib has its own implementation (both styles, batched
on the network's device, one backward pass per batch for every requested layer) and keeps
that package as a test-only reference.

Target: the predicted class by default, or the labels given. For a segmentation network
(output ``(N, K, H, W)``) the scalar is the class's probability (``"original"``) or score
(``"paper"``) summed over all pixels, and the default target is the class with the largest
summed probability.

Example::

    from tdlib import get_model
    from tdlib.explain import grad_cam, layers, paper_layers
    td = get_model("nin_light", "td")
    [(l.name, l.resolution) for l in layers(td)]       # coarse to fine
    heat = grad_cam(td, images, paper_layers(td)["act_4"])   # (N, 28, 28) in [0, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import core, resolve

Style = Literal["original", "paper"]
STYLES: tuple[str, ...] = ("original", "paper")


def check_style(style: str) -> None:
    """Raise a ValueError naming the valid styles."""
    if style not in STYLES:
        raise ValueError(f"unknown Grad-CAM style {style!r}; expected one of {', '.join(STYLES)}")


class LayerCapture:
    """Context manager with one job: keep the outputs of some layers during a forward pass.

    On entry it registers one forward hook per layer; on exit (error or not) it removes
    them, so the network is left as it was. When the forward runs under ``torch.no_grad()``
    (as :class:`GradCAM` runs it), the first captured layer to run switches autograd on and
    becomes a leaf: no graph is recorded for the layers below it, which Grad-CAM does not
    differentiate; the enclosing ``no_grad`` restores the grad mode when it exits.

    Each hook returns a copy of the output, so an in-place operation downstream (the
    ``relu_`` of a conv unit after its BatchNorm) cannot change the kept activation.

    Attributes:
        activations: Name -> ``(N, C, H, W)`` activation that requires grad.
    """

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.targets = {n: resolve(model, n) for n in names}
        self.activations: dict[str, Tensor] = {}
        self.calls: dict[str, int] = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> LayerCapture:
        try:
            for name, module in self.targets.items():
                self.handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook (idempotent)."""
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _hook(self, name: str):  # noqa: ANN202
        def hook(module: nn.Module, inputs: object, out: object) -> Tensor:
            self.calls[name] = self.calls.get(name, 0) + 1
            if not isinstance(out, Tensor) or out.dim() != 4:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"layer {name!r} does not output one (N, C, H, W) feature map (got {got}); "
                                 "Grad-CAM needs a convolutional layer")
            if self.calls[name] > 1:
                raise ValueError(f"layer {name!r} runs more than once in a forward pass (a shared module); "
                                 "its output is not one feature map")
            act = out
            if not torch.is_grad_enabled():  # the first captured layer: record the graph from here on
                torch.set_grad_enabled(True)
                act = act.detach().requires_grad_()
            elif not act.requires_grad:  # frozen parameters below it
                act = act.detach().requires_grad_()
            self.activations[name] = act
            return act.clone()
        return hook


def _set_eval(net: nn.Module) -> list[tuple[nn.Module, bool]]:
    modes = [(m, m.training) for m in net.modules()]
    net.eval()
    return modes


def _restore(modes: list[tuple[nn.Module, bool]]) -> None:
    for m, mode in modes:
        m.training = mode


def _resize(cam: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear, half-pixel centres (cv2 INTER_LINEAR, no antialiasing): ``(N, h, w)`` -> ``(N, H, W)``."""
    if tuple(cam.shape[-2:]) == tuple(size):
        return cam
    return F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def _minmax(cam: Tensor, eps: float = 1e-7) -> Tensor:
    """pytorch-grad-cam's ``scale_cam_image``: ``x - min``, then ``/ (eps + max)``, per image."""
    cam = cam - cam.amin((1, 2), keepdim=True)
    return cam / (eps + cam.amax((1, 2), keepdim=True))


def postprocess(cam: Tensor, size: tuple[int, int], style: Style) -> Tensor:
    """The per-image normalisation and resize of a style: ``(N, h, w)`` weighted sums -> ``(N, H, W)`` in [0, 1]."""
    check_style(style)
    if style == "paper":
        return _minmax(_resize(_minmax(cam.clamp_min(0)), size))
    cam = cam - cam.mean((1, 2), keepdim=True)
    cam = cam / (cam.flatten(1).norm(dim=1).view(-1, 1, 1) + 1e-10)
    cam = _resize(cam, size).clamp_min(0)
    peak = cam.amax((1, 2), keepdim=True)
    return torch.where(peak > 0, cam / peak.clamp_min(torch.finfo(cam.dtype).tiny), torch.zeros_like(cam))


def _check_images(images: Tensor, net: nn.Module) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[0] == 0:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"expected images of shape (N, C, H, W) with N >= 1, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"expected floating-point images, got {images.dtype}")
    spec = getattr(net, "spec", None)
    if spec is not None and images.shape[1] != spec.in_channels:
        raise ValueError(f"{spec.name}: expected {spec.in_channels} image channels, got images of shape "
                         f"{tuple(images.shape)}")


def _targets(target: Tensor | Sequence[int] | int | None, n: int, device: torch.device) -> Tensor | None:
    if target is None:
        return None
    t = torch.as_tensor(target, device=device)
    if t.dim() == 0:
        t = t.expand(n)
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.shape != (n,):
        raise ValueError(f"target must be class indices: an int or {n} integers, got {tuple(t.shape)} {t.dtype}")
    if int(t.min()) < 0:
        raise ValueError("target classes must be >= 0")
    return t.long()


class GradCAM:
    """Grad-CAM of one or several layers of a network, callable on image batches.

    Args:
        model: A tdlib network (BU, TD, segmentation), its :func:`~tdlib.speed.prepare_inference`
            copy (faster; the same layer names), or any ``nn.Module`` mapping ``(N, C, H, W)``
            to ``(N, K)`` scores or ``(N, K, H, W)`` per-pixel scores. It runs in eval mode;
            its modes are restored afterwards. Its parameters' ``.grad`` are not touched.
        layer: A layer name (:func:`~tdlib.explain.layers`), or several: all come from one
            forward and one backward pass.
        style: ``"original"`` (the authors' procedure) or ``"paper"`` (Eq. 3.3); see the module docstring.
        mean: Subtracted from the images before the network (CIFAR-10's training mean); the
            images themselves stay raw.
        batch_size: Images per forward/backward pass (the heatmaps of a batch are computed
            together; larger inputs are split into batches of this size).

    Raises:
        ValueError: Unknown layer (the message lists the valid ones) or style.
    """

    def __init__(self, model: nn.Module, layer: str | Sequence[str], *, style: Style = "original",
                 mean: Tensor | None = None, batch_size: int = 256) -> None:
        check_style(style)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.style, self.mean, self.batch_size = model, style, mean, batch_size
        self.single = isinstance(layer, str)
        self.names = [layer] if isinstance(layer, str) else list(dict.fromkeys(layer))
        if not self.names:
            raise ValueError("no layer given")
        for name in self.names:
            resolve(model, name)

    def __call__(self, images: Tensor, target: Tensor | Sequence[int] | int | None = None, *,
                 return_target: bool = False):  # noqa: ANN204
        """Heatmaps of ``images`` ``(N, C, H, W)``.

        Args:
            images: Raw images (the network's input before ``mean`` is subtracted), on any
                device: they are moved to the network's, the heatmaps come back to theirs.
            target: Classes to explain: ``None`` (each image's predicted class), one int for
                all, or ``N`` integers (e.g. the labels).
            return_target: Also return the ``(N,)`` classes explained.

        Returns:
            ``(N, H, W)`` heatmaps in [0, 1] for one layer, a dict name -> heatmaps for
            several; with ``return_target``, a pair (that, classes).
        """
        net = core(self.model)
        _check_images(images, net)
        n = images.shape[0]
        chunks: dict[str, list[Tensor]] = {name: [] for name in self.names}
        classes: list[Tensor] = []
        wanted = _targets(target, n, images.device)
        modes = _set_eval(net)
        try:
            for i in range(0, n, self.batch_size):
                t = None if wanted is None else wanted[i : i + self.batch_size]
                cams, cls = self._batch(images[i : i + self.batch_size], t)
                for name in self.names:
                    chunks[name].append(cams[name])
                classes.append(cls)
        finally:
            _restore(modes)
        maps = {name: torch.cat(c).to(images.device) for name, c in chunks.items()}
        out = maps[self.names[0]] if self.single else maps
        return (out, torch.cat(classes).to(images.device)) if return_target else out

    def _batch(self, x: Tensor, target: Tensor | None) -> tuple[dict[str, Tensor], Tensor]:
        size = (x.shape[-2], x.shape[-1])
        param = next(core(self.model).parameters(), None)
        if param is not None:
            x = x.to(param.device)
        if x.is_inference():
            x = x.clone()
        if self.mean is not None:
            x = x - self.mean.to(device=x.device, dtype=x.dtype)
        with LayerCapture(self.model, self.names) as cap, torch.no_grad():
            out = self.model(x)
            missing = [n for n in self.names if n not in cap.activations]
            if missing:
                raise ValueError(f"layer(s) {', '.join(missing)} produced no output in the forward pass "
                                 "(not used by this network's forward, or computed inside a fused operation); "
                                 "pick one from layers(model)")
            if not isinstance(out, Tensor) or out.dim() not in (2, 4) or out.shape[0] != x.shape[0]:
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ValueError(f"expected the network to output (N, K) or (N, K, H, W) scores, got {got}")
            probs = out.softmax(1)
            if target is None:
                target = (probs if out.dim() == 2 else probs.flatten(2).sum(2)).argmax(1)
            elif int(target.max()) >= out.shape[1]:
                raise ValueError(f"target classes must lie in 0..{out.shape[1] - 1}")
            target = target.to(out.device)
            picked = (probs if self.style == "original" else out)[torch.arange(len(out), device=out.device), target]
            score = picked if out.dim() == 2 else picked.flatten(1).sum(1)
            acts = [cap.activations[n] for n in self.names]
            try:
                grads = torch.autograd.grad(score.sum(), acts, allow_unused=True)
            except RuntimeError as e:
                names = ", ".join(self.names)
                raise ValueError(f"the network's output does not depend on layer(s) {names}: {e}") from e
        cams = {}
        with torch.no_grad():
            for name, a, g in zip(self.names, acts, grads, strict=True):
                if g is None:
                    raise ValueError(f"the network's output does not depend on layer {name!r}")
                alpha = g.float().mean((2, 3))
                cam = torch.einsum("nc,nchw->nhw", alpha, a.detach().float())
                cams[name] = postprocess(cam, size, self.style)  # type: ignore[arg-type]
        return cams, target.detach()


@overload
def grad_cam(model: nn.Module, images: Tensor, layer: str, *, target: Tensor | Sequence[int] | int | None = None,
             style: Style = "original", mean: Tensor | None = None, batch_size: int = 256) -> Tensor: ...


@overload
def grad_cam(model: nn.Module, images: Tensor, layer: Sequence[str], *,
             target: Tensor | Sequence[int] | int | None = None, style: Style = "original",
             mean: Tensor | None = None, batch_size: int = 256) -> Mapping[str, Tensor]: ...


def grad_cam(model, images, layer, *, target=None, style="original", mean=None, batch_size=256):  # noqa: ANN001, ANN201
    """Grad-CAM heatmaps ``(N, H, W)`` in [0, 1] of ``images`` at a layer (see :class:`GradCAM`).

    Args:
        model: A tdlib network (BU, TD, segmentation) or its :func:`~tdlib.speed.prepare_inference` copy.
        images: ``(N, C, H, W)`` raw images.
        layer: A name from :func:`~tdlib.explain.layers` (or several: a dict is returned).
        target: ``None`` (the predicted class), one class for all, or ``N`` classes.
        style: ``"original"`` (the authors' procedure, experiments.md §7) or ``"paper"`` (Eq. 3.3).
        mean: Subtracted from the images before the network.
        batch_size: Images per forward/backward pass.
    """
    return GradCAM(model, layer, style=style, mean=mean, batch_size=batch_size)(images, target)
