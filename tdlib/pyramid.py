"""Input pyramids, downscaling, upsampling, Gaussian blur and Fourier filtering.

All image tensors are ``(B, C, H, W)`` floating-point tensors. The functions here mirror the
original TensorFlow code's ``src/lib/blurring.py`` (see ``shared/reference/experiments.md``
§2.1 and §9) and the thesis' Fourier-domain filtering (thesis §3.2.3, Eq. 3.1). The thesis
downscale study (§3.2.1) blurs with :func:`blur` at the sigmas of :func:`blur_sigmas`.
Fourier radii are in cycles per image (see the Fourier section): :func:`fourier_lowpass`,
:func:`fourier_highpass`, :func:`fourier_bands` and, for a TD network's ring-band input,
:func:`fourier_ring_pyramid`.

Downscale methods (``DOWNSCALE_METHODS``):

- ``"tf"`` (default of every TD model): TF ``image.resize(method='gaussian', antialias=True)``,
  a Gaussian with sigma = f/2 input pixels centred on each output pixel's half-pixel centre,
  truncated at radius 1.5 f and renormalised over the pixels inside the image.
- ``"gaussian"``: Gaussian blur (sigma = f/2, reflect padding), then every f-th pixel.
- ``"antialias"``: Zhang-2019 blur-pool (2x2 max-pool, sigma 0.6 blur, stride 2), cascaded.
  Of the original TD classifiers only LeNetFC TD has this branch; asked for
  ``'antialias'``, the original NIN and ResNet TD models fall through to max-pooling
  (``"pool"`` here). Ours applies the blur-pool whatever the network.
- ``"noblur"``: every f-th pixel.
- ``"pool"``: f x f max-pool with stride f.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BLUR_PADDINGS",
    "DOWNSCALE_METHODS",
    "FOURIER_KINDS",
    "UPSAMPLE_MODES",
    "Downscale",
    "FourierFilter",
    "FourierRingPyramid",
    "GaussianBlur",
    "InputPyramid",
    "Upsample",
    "blur",
    "blur_levels",
    "blur_sigmas",
    "downscale",
    "fourier_bands",
    "fourier_filter",
    "fourier_highpass",
    "fourier_lowpass",
    "fourier_ring_pyramid",
    "frequency_radius",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_kernel2d",
    "pyramid",
    "upsample",
]

DOWNSCALE_METHODS = ("tf", "gaussian", "antialias", "noblur", "pool")
BLUR_PADDINGS = ("reflect", "zeros")
UPSAMPLE_MODES = ("nearest", "bilinear")
FOURIER_KINDS = ("lowpass", "highpass")

#: Sigma of the blur inside the ``"antialias"`` blur-pool (original ``downscale_antialias``).
ANTIALIAS_SIGMA = 0.6


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_image(x: Tensor, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x)}")
    if x.dim() != 4:
        raise ValueError(
            f"{name} must be a 4-D tensor of shape (B, C, H, W), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def _check_choice(value: str, valid: Sequence[str], what: str) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid values are {', '.join(valid)}")


def _check_factor(factor: int) -> None:
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")


def _check_divisible(x: Tensor, factor: int) -> None:
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"H and W must be divisible by the factor {factor}, got H={h}, W={w}")


def _check_sigma(sigma: float) -> None:
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")


# --------------------------------------------------------------------------------------------
# Gaussian kernels and blur
# --------------------------------------------------------------------------------------------


def gaussian_kernel1d(
    sigma: float,
    radius: int | None = None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Normalised 1-D Gaussian kernel.

    The original code's ``gaussian_kernel(sigma)`` is the 2-D outer product of this kernel
    (see :func:`gaussian_kernel2d`).

    Args:
        sigma: Standard deviation in pixels (> 0).
        radius: Taps run from ``-radius`` to ``radius``; default ``ceil(3 * sigma)``.
        dtype: Output dtype (default: the default float dtype).
        device: Output device.

    Returns:
        Tensor of shape ``(2 * radius + 1,)`` summing to 1,
        ``k[t] ∝ exp(-(t - radius)**2 / (2 sigma**2))``.
    """
    _check_sigma(sigma)
    if radius is None:
        radius = math.ceil(3 * sigma)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    # Computed in float64, then cast, so float32 and float64 kernels agree to rounding.
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2.0 * sigma**2))
    k = k / k.sum()
    return k.to(dtype=dtype or torch.get_default_dtype(), device=device)


def gaussian_kernel2d(
    sigma: float,
    radius: int | None = None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Normalised 2-D Gaussian kernel (outer product of two :func:`gaussian_kernel1d`).

    Args:
        sigma: Standard deviation in pixels (> 0).
        radius: Taps run from ``-radius`` to ``radius``; default ``ceil(3 * sigma)``.
        dtype: Output dtype (default: the default float dtype).
        device: Output device.

    Returns:
        Tensor of shape ``(2 * radius + 1, 2 * radius + 1)`` summing to 1.
    """
    k = gaussian_kernel1d(sigma, radius, dtype=torch.float64)
    return torch.outer(k, k).to(dtype=dtype or torch.get_default_dtype(), device=device)


def _separable_depthwise(x: Tensor, kernel1d: Tensor, padding: str, stride: int = 1) -> Tensor:
    """Depthwise separable convolution with a symmetric odd 1-D kernel on both axes.

    ``padding`` is ``"reflect"`` (TF 'REFLECT' = PyTorch 'reflect', no edge repeat) or
    ``"zeros"`` (TF 'SAME' for an odd kernel). With ``stride`` f the output keeps every f-th
    pixel starting at index 0, which equals blurring and then subsampling.
    """
    c = x.shape[1]
    r = (kernel1d.numel() - 1) // 2
    k = kernel1d.to(dtype=x.dtype, device=x.device)
    k_w = k.view(1, 1, 1, -1).expand(c, 1, 1, k.numel())
    k_h = k.view(1, 1, -1, 1).expand(c, 1, k.numel(), 1)
    if padding == "reflect":
        h, w = x.shape[-2:]
        if r >= h or r >= w:
            raise ValueError(
                f"reflect padding needs the kernel radius ({r}) to be smaller than H and W, "
                f"got H={h}, W={w}"
            )
        x = F.pad(x, (r, r, r, r), mode="reflect")
        x = F.conv2d(x, k_w, stride=(1, stride), groups=c)
        return F.conv2d(x, k_h, stride=(stride, 1), groups=c)
    x = F.conv2d(x, k_w, stride=(1, stride), padding=(0, r), groups=c)
    return F.conv2d(x, k_h, stride=(stride, 1), padding=(r, 0), groups=c)


# Why not a library op: torchvision.transforms.v2.functional.gaussian_blur has the same taps
# (exp(-t^2 / 2 sigma^2) for t = -r..r, normalised) and the same 'reflect' padding, and the
# tests check that we equal it. But it supports only reflect padding (the original
# `gaussian_blurring` defaults to SAME zero padding and blur-pool uses zeros too), it
# convolves with the full (2r+1)^2 kernel instead of two 1-D passes, and it cannot subsample
# inside the convolution. kornia.filters.gaussian_blur2d would match both paddings, but
# kornia is not a dependency of tdlib. So we write the separable depthwise convolution.
def gaussian_blur(x: Tensor, sigma: float, padding: str = "reflect") -> Tensor:
    """Gaussian blur with radius ``ceil(3 * sigma)``, same output size.

    Args:
        x: Images, shape ``(B, C, H, W)``.
        sigma: Standard deviation in pixels (> 0).
        padding: ``"reflect"`` (TF 'REFLECT', no edge repeat; scipy's ``mode='mirror'``) or
            ``"zeros"`` (TF 'SAME' zero padding; scipy's ``mode='constant'``).

    Returns:
        Blurred images, shape ``(B, C, H, W)``.
    """
    _check_image(x)
    _check_choice(padding, BLUR_PADDINGS, "padding")
    return _separable_depthwise(x, gaussian_kernel1d(sigma), padding)


class GaussianBlur(nn.Module):
    """Module twin of :func:`gaussian_blur`; input and output are ``(B, C, H, W)``.

    The 1-D kernel is a non-persistent buffer: it follows ``.to(...)`` and is not saved in
    the ``state_dict``.
    """

    kernel: Tensor

    def __init__(self, sigma: float, padding: str = "reflect") -> None:
        super().__init__()
        _check_choice(padding, BLUR_PADDINGS, "padding")
        self.sigma = float(sigma)
        self.padding = padding
        self.register_buffer("kernel", gaussian_kernel1d(sigma), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x)
        return _separable_depthwise(x, self.kernel, self.padding)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, padding={self.padding!r}"


def _check_blur_sigma(sigma: float) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0 (0: no blur), got {sigma!r}")


def blur_sigmas(levels: int, sigma0: float = 0.6) -> tuple[float, ...]:
    """Sigmas of the thesis downscale study, the original images first.

    Args:
        levels: Number of scales (>= 1), the original included.
        sigma0: Sigma of the first blurred scale (> 0; the thesis uses 0.6).

    Returns:
        ``(0.0, sigma0, 2 sigma0, 4 sigma0, ...)`` of length ``levels``; 0 means unblurred
        (see :func:`blur`).
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    _check_sigma(sigma0)
    return (0.0, *(float(sigma0) * 2**k for k in range(levels - 1)))


def blur(x: Tensor, sigma: float, padding: str = "zeros") -> Tensor:
    """:func:`gaussian_blur` that also accepts ``sigma == 0`` (no blur), zero padding by default.

    The downscale study's blur (original ``gaussian_blurring``): radius ``ceil(3 sigma)``,
    same output size, no subsampling. A library op gives no better numbers: see the note
    above :func:`gaussian_blur` (torchvision has only reflect padding; kornia is not a
    dependency), so the separable convolution of :func:`gaussian_blur` is used.

    Args:
        x: Images, shape ``(B, C, H, W)``.
        sigma: Standard deviation in pixels (>= 0); 0 returns ``x`` itself.
        padding: ``"zeros"`` (TF 'SAME', the original's default) or ``"reflect"``.

    Returns:
        Blurred images, shape ``(B, C, H, W)`` (``x`` itself for ``sigma == 0``).
    """
    _check_image(x)
    _check_choice(padding, BLUR_PADDINGS, "padding")
    _check_blur_sigma(sigma)
    if sigma == 0:
        return x
    return gaussian_blur(x, sigma, padding)


def blur_levels(
    x: Tensor, sigma0: float = 0.6, levels: int = 3, padding: str = "zeros"
) -> list[Tensor]:
    """Blurred copies of ``x`` for the thesis downscale study (original ``gaussian_blurring``).

    Every level is computed from the ORIGINAL ``x`` (not cascaded), with sigma0, 2 sigma0,
    4 sigma0, ... and radius ``ceil(3 * sigma_k)``. There is no subsampling. The unblurred
    original is not among the levels (:func:`blur_sigmas` lists the study's sigmas with it).

    Args:
        x: Images, shape ``(B, C, H, W)``.
        sigma0: Sigma of the first level (> 0; the thesis uses 0.6).
        levels: Number of blurred images (>= 1).
        padding: ``"zeros"`` (original default, TF 'SAME') or ``"reflect"``.

    Returns:
        ``levels`` tensors of shape ``(B, C, H, W)``; entry k is blurred with ``sigma0 * 2**k``.
    """
    _check_image(x)
    _check_choice(padding, BLUR_PADDINGS, "padding")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    _check_sigma(sigma0)
    return [gaussian_blur(x, sigma0 * 2**k, padding) for k in range(levels)]


# --------------------------------------------------------------------------------------------
# Downscaling
# --------------------------------------------------------------------------------------------


def _tf_kernel1d(factor: int, dtype: torch.dtype | None = None) -> Tensor:
    """1-D weights of TF's antialiased Gaussian resize by ``factor`` (unnormalised over edges).

    3f taps at offsets ``t - (3f - 1) / 2`` from the output pixel's centre, sigma = f / 2.
    With stride f and zero padding f, tap 0 of output pixel i sits at input index
    ``i f - f``, so the window's centre is ``(i + 0.5) f - 0.5``: TF's half-pixel centre.
    """
    t = torch.arange(3 * factor, dtype=torch.float64) - (3 * factor - 1) / 2
    sigma = factor / 2
    k = torch.exp(-(t**2) / (2.0 * sigma**2))
    return (k / k.sum()).to(dtype or torch.get_default_dtype())


@functools.lru_cache(maxsize=128)
def _tf_matrix(factor: int, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``(n / f, n)``: the "tf" resize along one axis, cached per size/device/dtype.

    Row ``i`` holds the taps of :func:`_tf_kernel1d` at input indices ``i f - f + t`` (stride f,
    zero padding f), renormalised over the taps that fall inside the image.
    """
    k = _tf_kernel1d(factor, torch.float64)
    m = torch.zeros(n // factor, n, dtype=torch.float64)
    for i in range(n // factor):
        for t in range(3 * factor):
            j = i * factor - factor + t
            if 0 <= j < n:
                m[i, j] = k[t]
    return (m / m.sum(1, keepdim=True)).to(device=device, dtype=dtype)


def _downscale_tf(x: Tensor, factor: int) -> Tensor:
    # The 2-D kernel is separable and the edge renormalisation too, so the strided depthwise
    # convolution equals two small matrix products. Written so because PyTorch's CPU
    # convolution takes a slow path for one channel with a large stride: it was 20% of a
    # LeNetFC TD forward pass (the matrix form costs under 1%).
    h, w = x.shape[-2:]
    return _tf_matrix(factor, h, x.device, x.dtype) @ x @ _tf_matrix(factor, w, x.device, x.dtype).T


def _antialias_step(x: Tensor, kernel1d: Tensor) -> Tensor:
    # 2x2 stride-1 max-pool with TF 'SAME' padding: 0 before, 1 after (with -inf).
    x = F.pad(x, (0, 1, 0, 1), value=float("-inf"))
    x = F.max_pool2d(x, kernel_size=2, stride=1)
    # Gaussian sigma=0.6 blur with SAME zero padding, then every 2nd pixel from index 0.
    return _separable_depthwise(x, kernel1d, "zeros", stride=2)


def _is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def _check_downscale_args(x: Tensor, factor: int, method: str, sigma: float | None) -> None:
    _check_image(x)
    _check_factor(factor)
    _check_choice(method, DOWNSCALE_METHODS, "downscale method")
    _check_divisible(x, factor)
    if method == "antialias" and not _is_power_of_two(factor):
        raise ValueError(
            f"method 'antialias' cascades stride-2 blur-pools, so factor must be a power of 2, "
            f"got {factor}"
        )
    if sigma is not None:
        if method != "gaussian":
            raise ValueError(f"sigma can only be set for method 'gaussian', got method {method!r}")
        _check_sigma(sigma)


def _downscale_kernel(factor: int, method: str, sigma: float | None) -> Tensor | None:
    """The fixed 1-D kernel a blur method needs, or None ("tf" builds matrices per image size)."""
    if factor == 1:
        return None
    if method == "tf":
        return None  # built per image size by _tf_matrix
    if method == "gaussian":
        return gaussian_kernel1d(factor / 2 if sigma is None else sigma)
    if method == "antialias":
        return gaussian_kernel1d(ANTIALIAS_SIGMA)
    return None


def _downscale(x: Tensor, factor: int, method: str, kernel: Tensor | None) -> Tensor:
    if factor == 1:
        return x
    if method == "tf":
        return _downscale_tf(x, factor)
    if method == "gaussian":
        return _separable_depthwise(x, kernel, "reflect", stride=factor)
    if method == "antialias":
        for _ in range(int(math.log2(factor))):
            x = _antialias_step(x, kernel)
        return x
    if method == "noblur":
        return x[..., ::factor, ::factor]
    return F.max_pool2d(x, kernel_size=factor, stride=factor)  # "pool"


def downscale(x: Tensor, factor: int, method: str = "tf", sigma: float | None = None) -> Tensor:
    """Downscale images by an integer factor with one of ``DOWNSCALE_METHODS``.

    - ``"tf"`` (default): TF ``image.resize(..., method='gaussian', antialias=True)``: one
      stride-f depthwise convolution with a 3f x 3f Gaussian (sigma = f/2 input pixels, taps
      at half-pixel centres), zero padding f, renormalised over the taps inside the image.
    - ``"gaussian"``: blur with sigma = f/2 (or ``sigma``), radius ``ceil(3 sigma)``, reflect
      padding, then every f-th pixel from index 0.
    - ``"antialias"``: 2x2 stride-1 max-pool (TF 'SAME'), sigma 0.6 blur (zero padding),
      stride 2; applied ``log2(f)`` times (f must be a power of 2).
    - ``"noblur"``: ``x[..., ::f, ::f]``.
    - ``"pool"``: f x f max-pool with stride f.

    ``factor == 1`` returns ``x`` unchanged for every method.

    Args:
        x: Images, shape ``(B, C, H, W)``; H and W divisible by ``factor``.
        factor: Integer downscale factor (>= 1).
        method: One of ``DOWNSCALE_METHODS``.
        sigma: Blur sigma override, only for ``method="gaussian"`` (default f/2).

    Returns:
        Tensor of shape ``(B, C, H/f, W/f)``.
    """
    _check_downscale_args(x, factor, method, sigma)
    return _downscale(x, factor, method, _downscale_kernel(factor, method, sigma))


class Downscale(nn.Module):
    """Module twin of :func:`downscale`: ``(B, C, H, W) -> (B, C, H/f, W/f)``.

    The method's kernel is a non-persistent buffer: it follows ``.to(device/dtype)`` and is
    not in the ``state_dict``. The "tf" resize matrices are cached per (H, W, device,
    dtype).
    """

    kernel: Tensor | None

    def __init__(self, factor: int, method: str = "tf", sigma: float | None = None) -> None:
        super().__init__()
        _check_factor(factor)
        _check_choice(method, DOWNSCALE_METHODS, "downscale method")
        if method == "antialias" and not _is_power_of_two(factor):
            raise ValueError(f"method 'antialias' needs a power-of-2 factor, got {factor}")
        if sigma is not None and method != "gaussian":
            raise ValueError(f"sigma can only be set for method 'gaussian', got method {method!r}")
        self.factor = factor
        self.method = method
        self.sigma = sigma
        self.register_buffer("kernel", _downscale_kernel(factor, method, sigma), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_downscale_args(x, self.factor, self.method, self.sigma)
        return _downscale(x, self.factor, self.method, self.kernel)

    def extra_repr(self) -> str:
        s = f"factor={self.factor}, method={self.method!r}"
        return s if self.sigma is None else f"{s}, sigma={self.sigma}"


def _check_pyramid_args(x: Tensor, levels: int) -> None:
    _check_image(x)
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    h, w = x.shape[-2:]
    f = 2 ** (levels - 1)
    if h % f or w % f:
        raise ValueError(
            f"a {levels}-level pyramid needs H and W divisible by 2**(levels - 1) = {f}, "
            f"got H={h}, W={w}"
        )


def pyramid(x: Tensor, levels: int, method: str = "tf") -> list[Tensor]:
    """Input pyramid ``[x, D2(x), D4(x), ...]``, full resolution first.

    Every level is ``downscale(x, 2**k, method)`` computed directly from ``x``, as the
    original TD models do (for "antialias", "noblur" and "pool", ``downscale(x, 4)`` is
    itself the cascade of two halvings; for where the original has "antialias", see the
    module docstring).

    Args:
        x: Images, shape ``(B, C, H, W)``; H and W divisible by ``2**(levels - 1)``.
        levels: Number of scales (>= 1).
        method: One of ``DOWNSCALE_METHODS``.

    Returns:
        ``levels`` tensors; entry k has shape ``(B, C, H / 2**k, W / 2**k)``.
    """
    _check_pyramid_args(x, levels)
    _check_choice(method, DOWNSCALE_METHODS, "downscale method")
    return [downscale(x, 2**k, method) for k in range(levels)]


class InputPyramid(nn.Module):
    """Module twin of :func:`pyramid`: ``(B, C, H, W)`` -> list of ``(B, C, H/2^k, W/2^k)``."""

    def __init__(self, levels: int, method: str = "tf") -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        _check_choice(method, DOWNSCALE_METHODS, "downscale method")
        self.levels = levels
        self.method = method
        self.downscales = nn.ModuleList(Downscale(2**k, method) for k in range(levels))

    def forward(self, x: Tensor) -> list[Tensor]:
        _check_pyramid_args(x, self.levels)
        return [d(x) for d in self.downscales]

    def extra_repr(self) -> str:
        return f"levels={self.levels}, method={self.method!r}"


# --------------------------------------------------------------------------------------------
# Upsampling
# --------------------------------------------------------------------------------------------


def upsample(x: Tensor, factor: int = 2, mode: str = "nearest") -> Tensor:
    """Upsample by an integer factor.

    ``"nearest"`` repeats every pixel f x f (TF ``image.resize(method='nearest')`` by an
    integer factor); ``"bilinear"`` uses half-pixel centres without antialiasing
    (``F.interpolate(..., align_corners=False)``, TF2 ``'bilinear'``).

    Args:
        x: Images, shape ``(B, C, H, W)``.
        factor: Integer upsampling factor (>= 1).
        mode: ``"nearest"`` or ``"bilinear"``.

    Returns:
        Tensor of shape ``(B, C, f H, f W)``.
    """
    _check_image(x)
    _check_factor(factor)
    _check_choice(mode, UPSAMPLE_MODES, "upsample mode")
    h, w = x.shape[-2:]
    # Nearest: F.interpolate rather than expand+reshape. Measured on this 2-core CPU for a
    # (128, 48, 14, 14) float32 input, x2, median of 280 interleaved runs:
    # forward+backward: F.interpolate 6.2 ms, expand+reshape 14.1 ms (the expand's backward is
    # a strided sum); forward only: interpolate 4.4 ms, expand+reshape 2.3 ms. Training needs
    # both passes, so F.interpolate. The output size is given explicitly so the source index
    # is floor(dst / f) exactly.
    if mode == "nearest":
        return F.interpolate(x, size=(h * factor, w * factor), mode="nearest")
    return F.interpolate(x, size=(h * factor, w * factor), mode="bilinear", align_corners=False)


class Upsample(nn.Module):
    """Module twin of :func:`upsample`: ``(B, C, H, W) -> (B, C, f H, f W)``."""

    def __init__(self, factor: int = 2, mode: str = "nearest") -> None:
        super().__init__()
        _check_factor(factor)
        _check_choice(mode, UPSAMPLE_MODES, "upsample mode")
        self.factor = factor
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        return upsample(x, self.factor, self.mode)

    def extra_repr(self) -> str:
        return f"factor={self.factor}, mode={self.mode!r}"


# --------------------------------------------------------------------------------------------
# Fourier-domain filtering (thesis §3.2.3, Eq. 3.1)
# --------------------------------------------------------------------------------------------
#
# Units: every radius here is in CYCLES PER IMAGE. The DFT bin (i, j) of an H x W image holds
# the frequency (u, v) = (fftfreq(H)[i] * H, fftfreq(W)[j] * W): u cycles over the image's
# height and v cycles over its width (integers, the Nyquist bin of an even size counting as
# n/2). A filter of radius r keeps the bins with u**2 + v**2 <= r**2: the thesis' centred disk
# in the fftshift-ed index grid. For a non-square image each axis counts cycles over its own
# length (a disk in cycles per image, an ellipse in cycles per pixel).


def _signed_frequencies(h: int, w: int, device: torch.device | str | None) -> tuple[Tensor, Tensor]:
    """``(u, v)``: float64 ``(h,)`` and ``(w,)`` cycles per image of the unshifted DFT bins."""
    u = torch.fft.fftfreq(h, device=device, dtype=torch.float64) * h
    v = torch.fft.fftfreq(w, device=device, dtype=torch.float64) * w
    return u, v


def frequency_radius(
    h: int, w: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """Distance of every 2-D DFT bin from DC, in cycles per image.

    Bin ``(i, j)`` holds ``u = fftfreq(h)[i] * h`` cycles per image height and
    ``v = fftfreq(w)[j] * w`` cycles per image width: the unshifted layout of
    ``torch.fft.fft2`` (DC at ``[0, 0]``), so no ``fftshift`` is needed. For even n the Nyquist
    bin counts as ``n/2``.

    Args:
        h: Image height.
        w: Image width.
        device: Output device.
        dtype: Output dtype (default: the default float dtype).

    Returns:
        Tensor of shape ``(h, w)``: ``sqrt(u**2 + v**2)``.
    """
    dtype = dtype or torch.get_default_dtype()
    u, v = _signed_frequencies(h, w, device)
    return torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2).to(dtype)


def _masked_inverse(spectrum: Tensor, mask: Tensor, dtype: torch.dtype) -> Tensor:
    # The mask depends only on |k|, so it is Hermitian-symmetric and the inverse transform is
    # real up to rounding; we keep the real part.
    return torch.fft.ifft2(spectrum * mask.to(spectrum.real.dtype)).real.to(dtype)


def _check_radius(radius: float) -> None:
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not radius >= 0:
        raise ValueError(f"radius must be a number >= 0 (cycles per image), got {radius!r}")


def _check_radii(radii: Sequence[float]) -> tuple[float, ...]:
    """Validated ring radii (cycles per image) as floats: non-empty, >= 0, strictly increasing."""
    radii = tuple(radii)
    for r in radii:
        _check_radius(r)
    out = tuple(float(r) for r in radii)
    if not out:
        raise ValueError("radii must contain at least one radius")
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ValueError(f"radii must be strictly increasing, got {list(out)}")
    return out


def _radial_filter(x: Tensor, radius: float, inside: bool) -> Tensor:
    """Keep the DFT bins within (``inside``) or beyond ``radius`` cycles per image of DC."""
    _check_image(x)
    _check_radius(radius)
    r = frequency_radius(*x.shape[-2:], device=x.device, dtype=torch.float64)
    return _masked_inverse(torch.fft.fft2(x), r <= radius if inside else r > radius, x.dtype)


def fourier_lowpass(x: Tensor, radius: float) -> Tensor:
    """Ideal low-pass: keep the DFT bins within a disk (thesis Eq. 3.1, ``x_low``).

    ``x_low = IFT(FT(x) * m)`` with ``m(u, v) = 1`` where ``u**2 + v**2 <= radius**2``,
    ``(u, v)`` in cycles per image (see :func:`frequency_radius`): a sinusoid of k cycles per
    image survives ``radius >= k`` and vanishes for ``radius < k``. The thesis draws the mask
    as a centred disk but does not state the cut-off value.

    Args:
        x: Images, shape ``(B, C, H, W)``.
        radius: Cut-off in cycles per image (>= 0; 0 keeps only the image mean).

    Returns:
        Real tensor of shape ``(B, C, H, W)``, dtype of ``x``.
    """
    return _radial_filter(x, radius, inside=True)


def fourier_highpass(x: Tensor, radius: float) -> Tensor:
    """Ideal high-pass, the complement of :func:`fourier_lowpass` (thesis Eq. 3.1, ``x_high``).

    ``x_high = IFT(FT(x) * (1 - m))``: keeps the bins with ``u**2 + v**2 > radius**2`` (cycles
    per image), so ``fourier_lowpass(x, r) + fourier_highpass(x, r) == x`` up to float
    rounding. Every radius >= 0 removes the image mean (DC). The thesis does not state the
    cut-off value.

    Args:
        x: Images, shape ``(B, C, H, W)``.
        radius: Cut-off in cycles per image (>= 0).

    Returns:
        Real tensor of shape ``(B, C, H, W)``, dtype of ``x``.
    """
    return _radial_filter(x, radius, inside=False)


def fourier_bands(x: Tensor, radii: Sequence[float] = (5, 10)) -> list[Tensor]:
    """Split ``x`` into non-overlapping concentric frequency regions (thesis Fig. 3.8).

    With radii ``(r1, r2, ...)`` (cycles per image, increasing) the regions are
    ``|k| <= r1``, ``r1 < |k| <= r2``, ..., ``|k| > r_last``. The thesis used ``r = [5, 10]``.
    The bands sum to ``x``; band 0 is ``fourier_lowpass(x, r1)``, the last band
    ``fourier_highpass(x, r_last)``. For the bands at the resolutions of a TD network's
    pyramid see :func:`fourier_ring_pyramid`.

    Args:
        x: Images, shape ``(B, C, H, W)``.
        radii: Strictly increasing, non-negative radii in cycles per image.

    Returns:
        ``len(radii) + 1`` real tensors of shape ``(B, C, H, W)``, innermost (lowest
        frequencies) first.
    """
    _check_image(x)
    radii = _check_radii(radii)
    r = frequency_radius(*x.shape[-2:], device=x.device, dtype=torch.float64)
    spectrum = torch.fft.fft2(x)
    edges = [-math.inf, *radii, math.inf]
    return [
        _masked_inverse(spectrum, (r > lo) & (r <= hi), x.dtype)
        for lo, hi in itertools.pairwise(edges)
    ]


class FourierFilter(nn.Module):
    """Module twin of :func:`fourier_lowpass` / :func:`fourier_highpass`.

    ``(B, C, H, W) -> (B, C, H, W)``; ``radius`` is in cycles per image (the thesis does not
    state the value it used).
    """

    def __init__(self, kind: str, radius: float) -> None:
        super().__init__()
        _check_choice(kind, FOURIER_KINDS, "Fourier filter kind")
        _check_radius(radius)
        self.kind = kind
        self.radius = float(radius)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "lowpass":
            return fourier_lowpass(x, self.radius)
        return fourier_highpass(x, self.radius)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, radius={self.radius}"


def fourier_filter(x: Tensor, kind: str, radius: float) -> Tensor:
    """:func:`fourier_lowpass` (``kind="lowpass"``) or :func:`fourier_highpass` (``"highpass"``).

    Args:
        x: Images, shape ``(B, C, H, W)``.
        kind: One of :data:`FOURIER_KINDS`.
        radius: Cut-off in cycles per image (>= 0).

    Returns:
        Real tensor of shape ``(B, C, H, W)``.
    """
    _check_choice(kind, FOURIER_KINDS, "Fourier filter kind")
    return _radial_filter(x, radius, inside=kind == "lowpass")


@functools.lru_cache(maxsize=64)
def _ring_filters(h: int, w: int, radii: tuple[float, ...], device: torch.device) -> tuple[Tensor, ...]:
    """Complex128 ``(h, w)`` spectral filters of :func:`fourier_ring_pyramid`, full resolution first.

    Level k (factor f = 2**k) gets band ``levels - 1 - k``, cut to the frequencies an
    ``(h/f, w/f)`` grid holds (``|u| <= h / 2f``, ``|v| <= w / 2f``), times the phase ramp that
    moves the sampling grid by ``(f - 1) / 2`` pixels (block centres).
    """
    levels = len(radii) + 1
    u, v = _signed_frequencies(h, w, device)
    r = torch.sqrt(u[:, None] ** 2 + v[None, :] ** 2)
    edges = [-math.inf, *radii, math.inf]
    filters = []
    for k in range(levels):
        f = 2**k
        lo, hi = edges[levels - 1 - k], edges[levels - k]
        keep = (r > lo) & (r <= hi) & (u.abs()[:, None] <= h / (2 * f)) & (v.abs()[None, :] <= w / (2 * f))
        shift = (f - 1) / 2
        phase = torch.polar(torch.ones_like(r), 2 * math.pi * shift * (u[:, None] / h + v[None, :] / w))
        filters.append(phase * keep)
    return tuple(filters)


def _check_ring_args(x: Tensor, radii: Sequence[float]) -> tuple[float, ...]:
    radii = _check_radii(radii)
    _check_pyramid_args(x, len(radii) + 1)
    return radii


def _ring_pyramid(x: Tensor, radii: tuple[float, ...]) -> list[Tensor]:
    spectrum = torch.fft.fft2(x)
    filters = _ring_filters(*x.shape[-2:], radii, x.device)
    return [
        torch.fft.ifft2(spectrum * m.to(spectrum.dtype)).real[..., :: 2**k, :: 2**k].to(x.dtype)
        for k, m in enumerate(filters)
    ]


def fourier_ring_pyramid(x: Tensor, radii: Sequence[float] = (5, 10)) -> list[Tensor]:
    """The Fourier ring bands of ``x`` as a TD input pyramid (thesis §3.2.3, Fig. 3.8).

    Level k (shape ``(B, C, H / 2**k, W / 2**k)``, ``levels = len(radii) + 1``) holds band
    ``levels - 1 - k`` of :func:`fourier_bands`: the coarsest level the inner disk
    ``|k| <= r1``, the full-resolution level the outermost ring ``|k| > r_last``.

    A band reaches its level's resolution by exact band-limited subsampling, computed in the
    Fourier domain: the band is cut to the frequencies the coarse grid can hold
    (``|u| <= H / 2^(k+1)``, ``|v| <= W / 2^(k+1)`` cycles per image), and its trigonometric
    interpolant is sampled at the centres of the ``2**k x 2**k`` blocks (pixel
    ``(2**k - 1) / 2`` of each block, where the "tf" downscale and nearest upsampling put
    them). Nothing aliases (only the ``+-n/2`` Nyquist pairs of the coarse grid share a bin,
    and they have the same radius), so the levels' spectra stay disjoint in cycles per image
    and a band that fits its grid is kept exactly. What does not fit is lost: a grid of n
    pixels holds at most n/2 cycles per image, so on 28 x 28 with radii (5, 10) the 7 x 7
    level keeps the part of the disk with ``|u|, |v| <= 3`` and the 14 x 14 level the part of
    the ring with ``|u|, |v| <= 7``. (A Gaussian or plain subsampling would instead fold the
    lost frequencies onto lower ones, other bands' frequencies.)

    Args:
        x: Images, shape ``(B, C, H, W)``; H and W divisible by ``2**len(radii)``.
        radii: Strictly increasing, non-negative radii in cycles per image (the thesis: 5, 10).

    Returns:
        ``len(radii) + 1`` real tensors, full resolution (outermost ring) first; entry k has
        shape ``(B, C, H / 2**k, W / 2**k)`` and the dtype of ``x``.
    """
    _check_image(x)
    return _ring_pyramid(x, _check_ring_args(x, radii))


class FourierRingPyramid(nn.Module):
    """Module twin of :func:`fourier_ring_pyramid`: ``(B, C, H, W)`` -> list of ``(B, C, H/2^k, W/2^k)``.

    Has no parameters and no ``state_dict`` entries; the spectral filters are cached per
    (H, W, radii, device).
    """

    def __init__(self, levels: int, radii: Sequence[float] = (5, 10)) -> None:
        super().__init__()
        radii = _check_radii(radii)
        if len(radii) + 1 != levels:
            raise ValueError(
                f"{levels} pyramid levels need {levels} Fourier bands, i.e. {levels - 1} ring radii; "
                f"got {len(radii)} radii {list(radii)} ({len(radii) + 1} bands)"
            )
        self.levels = levels
        self.radii = radii

    def forward(self, x: Tensor) -> list[Tensor]:
        _check_image(x)
        _check_pyramid_args(x, self.levels)
        return _ring_pyramid(x, self.radii)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, radii={list(self.radii)}"
