"""Tests for tdlib.pyramid: downscale methods, blur, upsampling and Fourier filtering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TVF

from tdlib import pyramid as P
from tdlib.pyramid import (
    DOWNSCALE_METHODS,
    Downscale,
    FourierFilter,
    FourierRingPyramid,
    GaussianBlur,
    InputPyramid,
    Upsample,
    blur,
    blur_levels,
    blur_sigmas,
    downscale,
    fourier_bands,
    fourier_filter,
    fourier_highpass,
    fourier_lowpass,
    fourier_ring_pyramid,
    frequency_radius,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_kernel2d,
    pyramid,
    upsample,
)

VECTORS = Path(__file__).parent / "fixtures"  # TensorFlow outputs, see fixtures/README.md
VECTOR_FILES = ["tf_gaussian_resize_28x28x1.npz", "tf_gaussian_resize_32x32x3.npz"]


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def _load(name: str) -> dict[str, torch.Tensor]:
    with np.load(VECTORS / name) as d:
        return {k: _nchw(d[k]) for k in ("x", "d2", "d4", "up")}


def _rand(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


def _high_fraction_normalised(img: torch.Tensor, cutoff: float = 0.25) -> float:
    """Share of (mean-removed) spectral energy above ``cutoff`` cycles per pixel."""
    h, w = img.shape[-2:]
    power = torch.fft.fft2(img - img.mean((-2, -1), keepdim=True)).abs() ** 2
    fy, fx = torch.fft.fftfreq(h), torch.fft.fftfreq(w)
    rn = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    return (power[..., rn > cutoff].sum() / power.sum()).item()


def _high_fraction_cpi(img: torch.Tensor, cutoff: float) -> float:
    """Share of (mean-removed) spectral energy above ``cutoff`` cycles per image."""
    h, w = img.shape[-2:]
    power = torch.fft.fft2(img - img.mean((-2, -1), keepdim=True)).abs() ** 2
    return (power[..., frequency_radius(h, w) > cutoff].sum() / power.sum()).item()


# ---------------------------------------------------------------------------------------------
# TensorFlow reference vectors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_tf_downscale_matches_tensorflow(name):
    v = _load(name)
    torch.testing.assert_close(downscale(v["x"], 2), v["d2"], atol=1e-5, rtol=0)
    torch.testing.assert_close(downscale(v["x"], 4, "tf"), v["d4"], atol=1e-5, rtol=0)
    torch.testing.assert_close(Downscale(4)(v["x"]), v["d4"], atol=1e-5, rtol=0)
    levels = pyramid(v["x"], 3)
    assert levels[0] is v["x"]
    torch.testing.assert_close(levels[1], v["d2"], atol=1e-5, rtol=0)
    torch.testing.assert_close(levels[2], v["d4"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", VECTOR_FILES)
def test_nearest_upsample_matches_tensorflow(name):
    v = _load(name)
    assert torch.equal(upsample(v["d2"]), v["up"])
    assert torch.equal(Upsample(2, "nearest")(v["d2"]), v["up"])


def test_nearest_upsample_repeats_pixels():
    x = _rand(2, 3, 5, 7)
    for f in (2, 3, 4):
        ref = x.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3)
        assert torch.equal(upsample(x, f), ref)


def test_bilinear_upsample_uses_half_pixel_centres():
    x = torch.tensor([[[[0.0, 1.0]]]]).expand(1, 1, 2, 2)
    y = upsample(x, 2, "bilinear")
    torch.testing.assert_close(y[0, 0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))
    assert y.shape == (1, 1, 4, 4)
    const = torch.full((1, 2, 3, 3), 0.7)
    torch.testing.assert_close(Upsample(4, "bilinear")(const), torch.full((1, 2, 12, 12), 0.7))


# ---------------------------------------------------------------------------------------------
# Gaussian kernels and blur
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 0.6, 1.0, 1.2, 2.0, 2.4])
def test_gaussian_kernel1d(sigma):
    k = gaussian_kernel1d(sigma, dtype=torch.float64)
    r = math.ceil(3 * sigma)
    assert k.shape == (2 * r + 1,)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-12)
    torch.testing.assert_close(k, k.flip(0), rtol=0, atol=0)
    t = np.arange(-r, r + 1)
    direct = np.exp(-(t**2) / (2 * sigma**2))
    np.testing.assert_allclose(k.numpy(), direct / direct.sum(), rtol=1e-12, atol=0)
    delta = np.zeros(4 * r + 1)
    delta[2 * r] = 1.0
    sp = ndi.gaussian_filter1d(delta, sigma, mode="constant", radius=r)[r : 3 * r + 1]
    np.testing.assert_allclose(k.numpy(), sp, rtol=1e-10, atol=1e-15)


def test_gaussian_kernel_radius_and_2d():
    assert gaussian_kernel1d(1.0, radius=1).shape == (3,)
    assert gaussian_kernel1d(0.6).shape == (5,)  # ceil(1.8) = 2, as in blur-pool
    k1 = gaussian_kernel1d(2.0)
    k2 = gaussian_kernel2d(2.0)
    assert k2.shape == (13, 13)
    assert k2.sum().item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(k2, torch.outer(k1, k1))


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.0])
@pytest.mark.parametrize(("padding", "scipy_mode"), [("reflect", "mirror"), ("zeros", "constant")])
def test_gaussian_blur_matches_scipy(sigma, padding, scipy_mode):
    # TF/PyTorch 'reflect' (no edge repeat) is scipy's 'mirror'.
    x = _rand(2, 3, 17, 20, seed=1, dtype=torch.float64)
    r = math.ceil(3 * sigma)
    ref = ndi.gaussian_filter(x.numpy(), sigma, mode=scipy_mode, cval=0.0, radius=r, axes=(2, 3))
    np.testing.assert_allclose(gaussian_blur(x, sigma, padding).numpy(), ref, atol=1e-10)
    xf = x.float()
    out = GaussianBlur(sigma, padding)(xf)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("sigma", [0.6, 1.0, 2.0])
def test_gaussian_blur_reflect_equals_torchvision(sigma):
    x = _rand(2, 3, 16, 16, seed=2)
    k = 2 * math.ceil(3 * sigma) + 1
    ref = TVF.gaussian_blur(x, kernel_size=[k, k], sigma=[sigma, sigma])
    torch.testing.assert_close(gaussian_blur(x, sigma, "reflect"), ref, atol=1e-6, rtol=0)


def test_blur_levels_doubles_sigma_from_original():
    x = _rand(2, 1, 32, 32, seed=3, dtype=torch.float64)
    levels = blur_levels(x, 0.6, 3)
    assert len(levels) == 3
    for k, y in enumerate(levels):
        s = 0.6 * 2**k
        ref = ndi.gaussian_filter(
            x.numpy(), s, mode="constant", radius=math.ceil(3 * s), axes=(2, 3)
        )
        assert y.shape == x.shape
        np.testing.assert_allclose(y.numpy(), ref, atol=1e-10)
    refl = blur_levels(x, 0.6, 2, padding="reflect")
    torch.testing.assert_close(refl[1], gaussian_blur(x, 1.2, "reflect"))


def test_blur_levels_defaults_and_not_cascaded():
    x = _rand(2, 3, 32, 32, seed=6, dtype=torch.float64)
    levels = blur_levels(x)  # sigma0 0.6, 3 levels, zero padding
    assert len(levels) == 3
    for k, y in enumerate(levels):
        assert torch.equal(y, gaussian_blur(x, 0.6 * 2**k, "zeros"))
    # Level 2 comes from the original, not from blurring level 1 again (which would be
    # sigma sqrt(1.2^2 + 2.4^2) in the interior).
    cascaded = gaussian_blur(levels[1], 2.4, "zeros")
    assert (levels[2] - cascaded).abs().max() > 1e-3
    assert len(blur_levels(x, sigma0=1.0, levels=1)) == 1
    with pytest.raises(ValueError, match="levels"):
        blur_levels(x, 0.6, 0)
    with pytest.raises(ValueError, match="sigma"):
        blur_levels(x, 0.0, 2)


def test_blur_sigmas():
    assert blur_sigmas(1) == (0.0,)
    assert blur_sigmas(4) == pytest.approx((0.0, 0.6, 1.2, 2.4))
    assert blur_sigmas(3, sigma0=1.0) == (0.0, 1.0, 2.0)
    assert all(isinstance(s, float) for s in blur_sigmas(5))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="levels"):
            blur_sigmas(bad)
    with pytest.raises(ValueError, match="sigma"):
        blur_sigmas(3, sigma0=0.0)


def test_blur_zero_is_identity_and_positive_is_gaussian_blur():
    x = _rand(2, 3, 16, 16, seed=7)
    assert blur(x, 0) is x and blur(x, 0.0, "reflect") is x
    assert torch.equal(blur(x, 1.2), gaussian_blur(x, 1.2, "zeros"))
    assert torch.equal(blur(x, 0.6, "reflect"), gaussian_blur(x, 0.6, "reflect"))
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma"):
            blur(x, bad)
    with pytest.raises(ValueError, match="padding"):
        blur(x, 0.0, "wrap")
    with pytest.raises(ValueError):
        blur(x[0], 1.0)


#: 2-D frequencies ``(fy, fx)`` in cycles per pixel for the transfer-function test.
_FREQS = [(0.0, 1 / 32), (1 / 32, 1 / 16), (0.0, 1 / 8), (1 / 16, 1 / 8), (1 / 8, 3 / 16), (0.25, 0.0)]


def _measured_gain(sigma: float, blur_sigma: float, fy: float, fx: float, n: int = 64) -> float:
    """Amplitude of a blurred unit 2-D cosine, fitted in the region the zero padding cannot reach."""
    v, u = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64),
                          indexing="ij")
    arg = 2 * math.pi * (fx * u + fy * v)
    y = gaussian_blur(torch.cos(arg + 0.3)[None, None], blur_sigma, "zeros")[0, 0]
    r = math.ceil(3 * max(sigma, blur_sigma))
    inner = (slice(r, n - r), slice(r, n - r))
    basis = torch.stack([torch.cos(arg)[inner].flatten(), torch.sin(arg)[inner].flatten()], 1)
    coef = torch.linalg.lstsq(basis, y[inner].flatten()[:, None]).solution
    return float(coef.norm())


def _analytic_gain(sigma: float, fy: float, fx: float) -> float:
    """Transfer of a continuous Gaussian: exp(-2 pi^2 sigma^2 |f|^2)."""
    return math.exp(-2 * math.pi**2 * sigma**2 * (fx**2 + fy**2))


#: Gap allowed between the sampled, truncated, renormalised kernel and the continuous transfer:
#: at sigma 0.6 the sampled kernel's spectrum is periodic, and its alias at f - 1 adds up to
#: exp(-2 pi^2 0.36 0.75^2) = 0.018 at f = 0.25 cycles/pixel; for sigma >= 1.2 the gap is < 1e-3.
_GAIN_TOL = 0.025


@pytest.mark.parametrize("sigma", [0.6, 1.2, 2.4])
def test_blur_frequency_response_is_gaussian(sigma):
    gaps = []
    for fy, fx in _FREQS:
        measured = _measured_gain(sigma, sigma, fy, fx)
        # The fit is exact (to rounding): the DTFT of the sampled kernel on both axes.
        k = gaussian_kernel1d(sigma, dtype=torch.float64)
        t = torch.arange(k.numel(), dtype=torch.float64) - (k.numel() - 1) // 2
        dtft = float((k * torch.cos(2 * math.pi * fy * t)).sum() * (k * torch.cos(2 * math.pi * fx * t)).sum())
        assert measured == pytest.approx(dtft, abs=1e-6)
        gaps.append(abs(measured - _analytic_gain(sigma, fy, fx)))
    assert max(gaps) < _GAIN_TOL, gaps
    # The test can fail: a blur with twice (or half) the sigma is far off the analytic curve.
    for wrong in (2 * sigma, sigma / 2):
        wrong_gaps = [abs(_measured_gain(sigma, wrong, fy, fx) - _analytic_gain(sigma, fy, fx))
                      for fy, fx in _FREQS]
        assert max(wrong_gaps) > 4 * _GAIN_TOL, (wrong, wrong_gaps)


# ---------------------------------------------------------------------------------------------
# Frequency content
# ---------------------------------------------------------------------------------------------


def test_blur_reduces_high_frequency_energy():
    x = _rand(4, 3, 64, 64, seed=4)
    base = _high_fraction_normalised(x)
    fractions = [_high_fraction_normalised(y) for y in blur_levels(x, 0.6, 3)]
    assert fractions[0] < 0.7 * base
    assert fractions[0] > fractions[1] > fractions[2]
    assert _high_fraction_normalised(gaussian_blur(x, 1.0)) < 0.3 * base


@pytest.mark.parametrize("method", DOWNSCALE_METHODS)
@pytest.mark.parametrize("factor", [2, 4])
def test_every_downscale_reduces_energy_above_cutoff(method, factor):
    # Cut-off fixed in cycles per image (4), below every output's Nyquist frequency.
    x = _rand(4, 3, 64, 64, seed=5)
    y = downscale(x, factor, method)
    assert _high_fraction_cpi(y, 4) < _high_fraction_cpi(x, 4) - 0.03


@pytest.mark.parametrize("method", ["tf", "gaussian", "antialias"])
@pytest.mark.parametrize("factor", [2, 4])
def test_blurring_downscales_attenuate_upper_band(method, factor):
    # On white noise, plain subsampling gives white noise again (aliasing); the antialiased
    # methods must hold back the upper half of the output band.
    x = _rand(8, 3, 64, 64, seed=6)
    white = _high_fraction_normalised(downscale(x, factor, "noblur"))
    assert _high_fraction_normalised(downscale(x, factor, method)) < 0.9 * white


@pytest.mark.parametrize("method", ["noblur", "pool"])
def test_noblur_and_pool_alias_white_noise(method):
    x = _rand(8, 3, 64, 64, seed=7)
    base = _high_fraction_normalised(x)
    assert _high_fraction_normalised(downscale(x, 2, method)) == pytest.approx(base, rel=0.05)


def test_frequency_radius_layout():
    r = frequency_radius(8, 6)
    assert r.shape == (8, 6)
    assert r[0, 0] == 0
    assert r[0, 1] == 1 and r[0, 5] == 1 and r[1, 0] == 1 and r[7, 0] == 1
    assert r[4, 0] == 4 and r[0, 3] == 3  # Nyquist bins
    assert r[3, 2].item() == pytest.approx(math.sqrt(13))
    # Hermitian symmetry: bin k and bin -k have the same radius.
    idx_h, idx_w = (-torch.arange(8)) % 8, (-torch.arange(6)) % 6
    assert torch.equal(r, r[idx_h][:, idx_w])
    # Same as the centred distance map after fftshift.
    yy, xx = torch.meshgrid(torch.arange(8) - 4, torch.arange(6) - 3, indexing="ij")
    centred = torch.sqrt((yy**2 + xx**2).float())
    torch.testing.assert_close(torch.fft.fftshift(r), centred)


@pytest.mark.parametrize("radius", [0.0, 3.0, 5.0, 7.5, 12.0])
def test_lowpass_highpass_are_complementary(radius):
    x = _rand(2, 3, 28, 32, seed=8)
    low, high = fourier_lowpass(x, radius), fourier_highpass(x, radius)
    assert low.dtype == x.dtype and not low.is_complex() and not high.is_complex()
    torch.testing.assert_close(low + high, x, atol=1e-5, rtol=0)
    r = frequency_radius(28, 32)
    spec_low, spec_high = torch.fft.fft2(low).abs(), torch.fft.fft2(high).abs()
    scale = torch.fft.fft2(x).abs().max()
    assert spec_low[..., r > radius].max() < 1e-5 * scale
    assert spec_high[..., r <= radius].max() < 1e-5 * scale
    # The filters do remove something on noise.
    assert (low - x).abs().max() > 0.05 and (high - x).abs().max() > 0.05


def test_fourier_radius_is_in_cycles_per_image():
    h = w = 32
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    # A plane wave with 3 cycles across and 4 down lies at radius 5 cycles per image.
    wave = torch.cos(2 * math.pi * (3 * xx / w + 4 * yy / h) + 0.4).float().view(1, 1, h, w)
    torch.testing.assert_close(fourier_lowpass(wave, 5.0), wave, atol=1e-5, rtol=0)
    assert fourier_lowpass(wave, 4.9).abs().max() < 1e-5
    torch.testing.assert_close(FourierFilter("highpass", 4.9)(wave), wave, atol=1e-5, rtol=0)
    torch.testing.assert_close(FourierFilter("lowpass", 5)(wave), wave, atol=1e-5, rtol=0)
    assert FourierFilter("highpass", 5)(wave).abs().max() < 1e-5


def _plane_wave(h: int, w: int, u: int, v: int, phase: float = 0.4) -> torch.Tensor:
    """``(1, 1, h, w)``: u cycles over the height, v over the width (float64 grid, float32 out)."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    return torch.cos(2 * math.pi * (u * yy / h + v * xx / w) + phase).float().view(1, 1, h, w)


@pytest.mark.parametrize(("h", "w"), [(28, 28), (28, 32), (32, 24)])
@pytest.mark.parametrize(("u", "v"), [(0, 3), (5, 0), (3, 4), (2, 7)])
def test_fourier_radius_is_cycles_per_image_on_any_grid(h, w, u, v):
    """k = sqrt(u^2 + v^2) cycles per image: kept at radius k + eps, removed at k - eps, per axis length."""
    wave = _plane_wave(h, w, u, v)
    k = math.hypot(u, v)
    torch.testing.assert_close(fourier_lowpass(wave, k + 0.01), wave, atol=1e-5, rtol=0)
    assert fourier_lowpass(wave, k - 0.01).abs().max() < 1e-5
    torch.testing.assert_close(fourier_highpass(wave, k - 0.01), wave, atol=1e-5, rtol=0)
    assert fourier_highpass(wave, k + 0.01).abs().max() < 1e-5
    torch.testing.assert_close(fourier_filter(wave, "lowpass", k + 0.01), wave, atol=1e-5, rtol=0)
    assert fourier_filter(wave, "highpass", k + 0.01).abs().max() < 1e-5


def test_fourier_bands_partition():
    x = _rand(2, 3, 32, 32, seed=9)
    bands = fourier_bands(x)
    assert len(bands) == 3
    torch.testing.assert_close(sum(bands), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(bands[0], fourier_lowpass(x, 5), atol=1e-6, rtol=0)
    torch.testing.assert_close(bands[2], fourier_highpass(x, 10), atol=1e-6, rtol=0)
    r = frequency_radius(32, 32)
    regions = [r <= 5, (r > 5) & (r <= 10), r > 10]
    scale = torch.fft.fft2(x).abs().max()
    for band, region in zip(bands, regions, strict=True):
        assert not band.is_complex() and band.dtype == x.dtype
        spec = torch.fft.fft2(band).abs()
        assert spec[..., ~region].max() < 1e-5 * scale
        assert spec[..., region].max() > 1e-2 * scale
        # The masked inverse transform is real up to rounding (Hermitian-symmetric mask).
        imag = torch.fft.ifft2(torch.fft.fft2(x) * region).imag
        assert imag.abs().max() < 1e-5
    assert len(fourier_bands(x, radii=(2, 4, 8))) == 4


@pytest.mark.parametrize("size", [28, 32])
def test_fourier_ring_pyramid_levels_and_spectra(size):
    x = _rand(2, 3, size, size, seed=10)
    levels = fourier_ring_pyramid(x)
    assert [tuple(lv.shape) for lv in levels] == [(2, 3, size // 2**k, size // 2**k) for k in range(3)]
    assert all(lv.dtype == x.dtype for lv in levels)
    # The full-resolution level is the outermost ring itself.
    torch.testing.assert_close(levels[0], fourier_bands(x)[2], atol=1e-6, rtol=0)
    # Every level's spectrum (cycles per image of its own grid) lies in its band: coarsest = inner disk.
    regions = [lambda r: r > 10, lambda r: (r > 5) & (r <= 10), lambda r: r <= 5]
    scale = torch.fft.fft2(x).abs().max()
    for lv, region in zip(levels, regions, strict=True):
        inside = region(frequency_radius(*lv.shape[-2:]))
        spec = torch.fft.fft2(lv).abs()
        outside = spec[..., ~inside]  # empty at 7 x 7: every bin there has radius <= 4.3
        assert outside.numel() == 0 or outside.max() < 1e-5 * scale
        assert spec[..., inside].max() > 1e-3 * scale
    torch.testing.assert_close(FourierRingPyramid(3)(x), levels, atol=0, rtol=0)
    assert FourierRingPyramid(3).state_dict() == {} and not list(FourierRingPyramid(3).parameters())


def test_fourier_ring_pyramid_subsamples_without_loss_or_aliasing():
    """A band that fits its level's grid is sampled exactly at the block centres; one that does not is dropped."""
    h = w = 28
    # 2 x 1 cycles (radius 2.2: inner disk) fits the 7 x 7 grid: samples at 4 i + 1.5.
    fits = _plane_wave(h, w, 2, 1)
    i = torch.arange(7, dtype=torch.float64)
    want = torch.cos(2 * math.pi * (2 * (4 * i[:, None] + 1.5) / h + (4 * i[None, :] + 1.5) / w) + 0.4).float()
    levels = fourier_ring_pyramid(fits)
    torch.testing.assert_close(levels[2][0, 0], want, atol=1e-5, rtol=0)
    assert levels[0].abs().max() < 1e-5 and levels[1].abs().max() < 1e-5
    # 6 x 0 cycles (ring 5..10) fits 14 x 14: samples at 2 i + 0.5.
    j = torch.arange(14, dtype=torch.float64)
    want = torch.cos(2 * math.pi * 6 * (2 * j[:, None] + 0.5) / h + 0.4).float().expand(14, 14)
    torch.testing.assert_close(fourier_ring_pyramid(_plane_wave(h, w, 6, 0))[1][0, 0], want, atol=1e-5, rtol=0)
    # 4 x 0 cycles is in the inner disk but beyond the 7 x 7 grid's 3.5: dropped, not folded onto 3.
    assert all(lv.abs().max() < 1e-5 for lv in fourier_ring_pyramid(_plane_wave(h, w, 4, 0)))
    # Non-square images and other radii.
    y = _rand(1, 2, 32, 24, seed=11)
    assert [tuple(lv.shape[-2:]) for lv in fourier_ring_pyramid(y, (2, 4, 8))] == [(32, 24), (16, 12), (8, 6), (4, 3)]


def test_fourier_ring_pyramid_bad_arguments():
    with pytest.raises(ValueError, match="3 pyramid levels need 3 Fourier bands.*got 1 radii"):
        FourierRingPyramid(3, (5,))
    with pytest.raises(ValueError, match="strictly increasing"):
        FourierRingPyramid(3, (10, 5))
    with pytest.raises(ValueError, match=r"divisible by 2\*\*\(levels - 1\) = 4"):
        fourier_ring_pyramid(_rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="cycles per image"):
        fourier_lowpass(_rand(1, 1, 8, 8), -1.0)
    with pytest.raises(ValueError, match="lowpass, highpass"):
        fourier_filter(_rand(1, 1, 8, 8), "bandpass", 3.0)


# ---------------------------------------------------------------------------------------------
# Downscale methods: sizes and definitions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", DOWNSCALE_METHODS)
@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("factor", [2, 4])
def test_downscale_sizes(method, size, factor):
    x = _rand(2, 3, size, size, seed=10)
    y = downscale(x, factor, method)
    assert y.shape == (2, 3, size // factor, size // factor)
    assert y.dtype == x.dtype and torch.isfinite(y).all()
    torch.testing.assert_close(Downscale(factor, method)(x), y)
    assert torch.equal(downscale(x, 1, method), x)


@pytest.mark.parametrize("method", DOWNSCALE_METHODS)
@pytest.mark.parametrize("size", [28, 32])
def test_pyramid_levels(method, size):
    x = _rand(2, 1, size, size, seed=11)
    levels = pyramid(x, 3, method)
    assert [t.shape[-1] for t in levels] == [size, size // 2, size // 4]
    assert levels[0] is x
    for k, t in enumerate(levels):
        torch.testing.assert_close(t, downscale(x, 2**k, method))
    module_levels = InputPyramid(3, method)(x)
    assert len(module_levels) == 3
    for a, b in zip(levels, module_levels, strict=True):
        torch.testing.assert_close(a, b)
    assert len(pyramid(x, 1, method)) == 1


def test_tf_downscale_preserves_constants_at_borders():
    # Renormalising over the taps inside the image keeps a constant image constant.
    x = torch.full((1, 2, 28, 28), 0.3)
    for f in (2, 4, 7):
        torch.testing.assert_close(downscale(x, f, "tf"), torch.full((1, 2, 28 // f, 28 // f), 0.3))


def test_tf_downscale_weights_follow_half_pixel_centres():
    # A single bright pixel: output pixel i weights input j by exp(-(j - c_i)^2 / (2 (f/2)^2))
    # with c_i = (i + 0.5) f - 0.5, renormalised over the window |j - c_i| < 1.5 f.
    f, n = 4, 16
    for j in (0, 5, 9):
        x = torch.zeros(1, 1, n, n, dtype=torch.float64)
        x[0, 0, j, j] = 1.0
        y = downscale(x, f, "tf")
        t = np.arange(n)
        w = np.zeros((n // f, n))
        for i in range(n // f):
            c = (i + 0.5) * f - 0.5
            d = t - c
            w[i] = np.where(np.abs(d) < 1.5 * f, np.exp(-(d**2) / (2 * (f / 2) ** 2)), 0)
            w[i] /= w[i].sum()
        np.testing.assert_allclose(y[0, 0].numpy(), np.outer(w[:, j], w[:, j]), atol=1e-12)


def test_gaussian_downscale_is_blur_then_subsample():
    x = _rand(2, 3, 32, 32, seed=12)
    for f in (2, 4):
        ref = gaussian_blur(x, f / 2, "reflect")[..., ::f, ::f]
        torch.testing.assert_close(downscale(x, f, "gaussian"), ref)
    ref = gaussian_blur(x, 0.6, "reflect")[..., ::2, ::2]
    torch.testing.assert_close(downscale(x, 2, "gaussian", sigma=0.6), ref)
    torch.testing.assert_close(Downscale(2, "gaussian", sigma=0.6)(x), ref)


def _numpy_blur_pool(a: np.ndarray) -> np.ndarray:
    """Independent reference for one blur-pool step (NCHW numpy, float64)."""
    p = np.pad(a, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=-np.inf)
    m = np.maximum.reduce([p[..., :-1, :-1], p[..., 1:, :-1], p[..., :-1, 1:], p[..., 1:, 1:]])
    b = ndi.gaussian_filter(m, 0.6, mode="constant", cval=0.0, radius=2, axes=(2, 3))
    return b[..., ::2, ::2]


def test_antialias_downscale_matches_numpy_and_cascades():
    x = _rand(2, 3, 28, 28, seed=13, dtype=torch.float64)
    d2 = downscale(x, 2, "antialias")
    np.testing.assert_allclose(d2.numpy(), _numpy_blur_pool(x.numpy()), atol=1e-10)
    d4 = downscale(x, 4, "antialias")
    torch.testing.assert_close(d4, downscale(d2, 2, "antialias"))
    np.testing.assert_allclose(d4.numpy(), _numpy_blur_pool(_numpy_blur_pool(x.numpy())))


def test_noblur_and_pool_definitions():
    x = _rand(2, 3, 32, 32, seed=14)
    for f in (2, 4):
        assert torch.equal(downscale(x, f, "noblur"), x[..., ::f, ::f])
        assert torch.equal(downscale(x, f, "pool"), F.max_pool2d(x, f, f))
    assert torch.equal(downscale(x, 4, "pool"), F.max_pool2d(F.max_pool2d(x, 2), 2))


@pytest.mark.parametrize("method", ["tf", "gaussian", "antialias"])
def test_downscale_gradients(method):
    x = _rand(1, 2, 8, 8, seed=15, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: downscale(t, 2, method), (x,), fast_mode=True)


# ---------------------------------------------------------------------------------------------
# Modules: buffers, dtype/device moves, caching
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", DOWNSCALE_METHODS)
@pytest.mark.parametrize("factor", [2, 4])
def test_downscale_module_moves_to_float64(method, factor):
    x = _rand(2, 3, 32, 32, seed=16)
    m = Downscale(factor, method)
    y32 = m(x)
    assert m.state_dict() == {}
    m = m.to(torch.float64)
    if m.kernel is not None:
        assert m.kernel.dtype == torch.float64
    y64 = m(x.double())
    assert y64.dtype == torch.float64
    torch.testing.assert_close(y64, y32.double(), atol=1e-6, rtol=0)
    assert InputPyramid(3, method).state_dict() == {}
    assert GaussianBlur(1.0).state_dict() == {}


def test_tf_normalisation_is_cached():
    x = _rand(1, 1, 24, 40, seed=17)
    downscale(x, 2)
    before = P._tf_matrix.cache_info()
    Downscale(2)(x)
    downscale(x, 2)
    after = P._tf_matrix.cache_info()
    assert after.hits == before.hits + 4 and after.misses == before.misses


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_unknown_method_lists_valid_names():
    x = _rand(1, 1, 28, 28)
    with pytest.raises(ValueError, match="bicubic") as err:
        downscale(x, 2, "bicubic")
    for name in DOWNSCALE_METHODS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="tf, gaussian, antialias, noblur, pool"):
        Downscale(2, "area")
    with pytest.raises(ValueError, match="tf, gaussian"):
        pyramid(x, 2, "lanczos")
    with pytest.raises(ValueError, match="nearest, bilinear"):
        upsample(x, 2, "bicubic")
    with pytest.raises(ValueError, match="reflect, zeros"):
        gaussian_blur(x, 1.0, "circular")
    with pytest.raises(ValueError, match="lowpass, highpass"):
        FourierFilter("bandpass", 3)


def test_indivisible_size_raises():
    x = _rand(1, 1, 27, 27)
    for method in DOWNSCALE_METHODS:
        with pytest.raises(ValueError, match="divisible by the factor 2.*H=27, W=27"):
            downscale(x, 2, method)
    with pytest.raises(ValueError, match="divisible"):
        Downscale(2)(x)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*\(levels - 1\) = 8.*H=28, W=28"):
        pyramid(_rand(1, 1, 28, 28), 4)
    with pytest.raises(ValueError, match=r"= 4, got H=30, W=30"):
        InputPyramid(3)(_rand(1, 1, 30, 30))


def test_non_4d_input_raises():
    x3 = _rand(1, 28, 28)
    for call in (
        lambda: downscale(x3, 2),
        lambda: pyramid(x3, 2),
        lambda: upsample(x3),
        lambda: gaussian_blur(x3, 1.0),
        lambda: fourier_lowpass(x3, 3),
        lambda: fourier_bands(x3),
    ):
        with pytest.raises(ValueError, match=r"4-D tensor of shape \(B, C, H, W\).*\(1, 28, 28\)"):
            call()


def test_other_bad_arguments_raise():
    x = _rand(1, 1, 24, 24)
    with pytest.raises(ValueError, match="power of 2"):
        downscale(x, 3, "antialias")
    with pytest.raises(ValueError, match="sigma can only be set for method 'gaussian'"):
        downscale(x, 2, "tf", sigma=1.0)
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        downscale(x, 0)
    with pytest.raises(ValueError, match="sigma must be positive"):
        gaussian_kernel1d(0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        fourier_bands(x, radii=(10, 5))
    with pytest.raises(ValueError, match="smaller than H and W"):
        gaussian_blur(_rand(1, 1, 4, 4), 2.0, "reflect")
    with pytest.raises(ValueError, match="levels must be >= 1"):
        pyramid(x, 0)
