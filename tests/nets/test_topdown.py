"""The one top-down builder: every paper model, every option, a user's own network."""

import itertools

import pytest
import torch
import torchvision

from tdlib import BUSpec, Stage, Unit, count_parameters, get_model, list_models, to_topdown
from tdlib.nets import model_info
from tdlib.nets.topdown import arrange, per_scale_twin

TINY = {"lenetfc": 8, "nin_light": 8, "nin": 8, "resnet32": 8, "resnet18_light": 16}
MERGES = ["add", "concat", "add_concat"]


def tiny(name, batch=2):
    c = model_info(name).input_shape[0]
    return torch.rand(batch, c, TINY[name], TINY[name])


@pytest.mark.parametrize(("name", "arrangement", "merge"),
                         list(itertools.product(list_models(), ["td", "uni", "rev"], MERGES)))
def test_every_model_arrangement_merge_trains(name, arrangement, merge):
    torch.manual_seed(0)
    td = get_model(name, arrangement, merge=merge)
    x = tiny(name)
    feats = td.features(x)
    assert feats[-1].shape[-2:] == x.shape[-2:]  # the TD ends at the input's resolution
    assert [f.shape[-1] for f in feats] == sorted(f.shape[-1] for f in feats)  # coarse to fine
    y = td.head(feats[-1])
    assert y.shape == (2, 10)
    y.sum().backward()
    missing = [n for n, p in td.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize("upsample", ["nearest", "bilinear", "transposed"])
@pytest.mark.parametrize("downscale", ["tf", "gaussian", "antialias", "noblur", "pool"])
def test_upsample_and_downscale_options(upsample, downscale):
    td = get_model("lenetfc", "td", upsample=upsample, downscale=downscale)
    x = torch.rand(2, 1, 28, 28)
    assert td(x).shape == (2, 10)
    assert td.config["upsample"] == upsample and td.config["downscale"] == downscale


@pytest.mark.parametrize("name", list_models())
def test_gradient_reaches_every_pyramid_level(name):
    torch.manual_seed(0)
    td = get_model(name, "td")
    levels = [lv.detach().requires_grad_() for lv in td.input_levels(tiny(name))]
    assert len(levels) == td.spec.downsamplings + 1
    out = td.head(td.level_features(levels)[-1]).sum()
    grads = torch.autograd.grad(out, levels)
    for k, g in enumerate(grads):
        assert g.abs().sum() > 0, f"no gradient at pyramid level {k}"


@pytest.mark.parametrize(("name", "counts"), [
    ("lenetfc", (14_452, 23_486, 57_846)),
    ("nin_light", (212_670, 214_734, 214_206)),
    ("nin", (3_368_478, 3_397_470, 3_388_446)),
    ("resnet32", (528_042, 319_626, 563_274)),
])
def test_td_parameter_counts_equal_the_original_code(name, counts):
    assert tuple(count_parameters(get_model(name, v)) for v in ("td", "uni", "rev")) == counts


def test_resnet18_light_td_count_equals_the_original_code():
    assert count_parameters(get_model("resnet18_light", "td")) == 4_966_538


def test_resnet18_light_td_stem_merge_batchnorm_has_keras_defaults():
    """The original ResNet18_TD builds its stem merge's BN with Keras defaults (0.99, 1e-3)."""
    td = get_model("resnet18_light", "td")
    stem_merge = td.steps[0].merge.unit.bn
    assert (stem_merge.num_features, stem_merge.momentum, stem_merge.eps) == (512, 0.01, 1e-3)
    others = [m for m in td.modules() if isinstance(m, torch.nn.BatchNorm2d) and m is not stem_merge]
    assert len(others) > 10 and all((m.momentum, m.eps) == (0.1, 1e-5) for m in others)
    assert all((m.momentum, m.eps) == (0.1, 1e-5)
               for m in get_model("resnet18_light").modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize(("name", "variant", "count"), [
    ("nin_light", "td", 215_118), ("nin_light", "uni", 217_182), ("nin", "td", 3_405_918), ("nin", "uni", 3_434_910),
])
def test_paper_implied_variants_match_table1(name, variant, count):
    assert count_parameters(get_model(name, variant, paper_variant=True)) == count


@pytest.mark.parametrize("name", list_models())
def test_per_scale_with_same_input_equals_single_input(name):
    torch.manual_seed(0)
    td = get_model(name, "td").eval()
    twin = per_scale_twin(td)
    x = tiny(name)
    torch.testing.assert_close(twin([x] * td.levels), td(x), rtol=0, atol=1e-6)
    other = twin([x, torch.rand_like(x)] + [x] * (td.levels - 2))
    assert not torch.allclose(other, td(x))  # the second input really feeds the network


def test_lenetfc_td_layers_match_the_original():
    td = get_model("lenetfc", "td")
    s0, s1, s2 = td.steps
    assert s0.transition is None and s0.units[0].conv.in_channels == 1 and s0.units[0].conv.out_channels == 32
    assert s1.transition.project.conv.kernel_size == (1, 1) and s1.transition.project.conv.out_channels == 16
    assert s1.entry.conv.kernel_size == (5, 5) and s1.entry.conv.out_channels == 16
    assert s1.merge.unit.conv.in_channels == 32 and s1.merge.unit.conv.kernel_size == (3, 3)
    assert s2.entry.conv.out_channels == 6 and s2.units[0].conv.kernel_size == (5, 5)


def test_nin_rev_keeps_the_kernel_of_each_resolution():
    units = arrange(get_model("nin_light").spec, "rev")
    assert [(u.width, u.kernel) for u in units[0]] == [(48, 3), (40, 1), (24, 1)]
    assert [(u.width, u.kernel) for u in units[2]] == [(48, 5), (48, 1)]
    td = get_model("nin_light", "rev")
    assert td.plan[1].projection and not td.plan[2].projection  # 24 -> 48 only at the first merge


def test_nin_dropout_follows_each_merge():
    td = get_model("nin_light", "td")
    assert [s.merge.dropout.p if s.merge else None for s in td.steps] == [None, 0.5, 0.5]


def test_resnet32_td_wide_last_block():
    td = get_model("resnet32", "td", widths=(64, 32, 32))
    assert td.features(torch.rand(2, 3, 32, 32))[-1].shape[1] == 32
    assert td.head.fc.in_features == 32


def test_resnet32_wide_td_projection_rules():
    """Default (the committed runs): identity shortcut where 32 -> 32; "always": the original's 1x1 kept."""
    auto = get_model("resnet32", "td", widths=(64, 32, 32))
    literal = get_model("resnet32", "td", widths=(64, 32, 32), projection="always")
    assert count_parameters(auto) == 609_322 and count_parameters(literal) == 610_378
    assert auto.steps[2].transition.shortcut is None and not auto.plan[2].projection
    short = literal.steps[2].transition.shortcut
    assert (short.kernel_size, short.in_channels, short.out_channels) == ((1, 1), 32, 32) and literal.plan[2].projection
    assert literal(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    # On the original widths every up-block already has its 1x1: "always" is the original ResNet_TD.
    assert count_parameters(get_model("resnet32", "td", projection="always")) == 528_042


def test_bad_options_list_the_valid_ones():
    with pytest.raises(ValueError, match="add, concat, add_concat"):
        get_model("lenetfc", "td", merge="sum")
    with pytest.raises(ValueError, match="td, uni, rev"):
        to_topdown(get_model("lenetfc"), arrangement="mirror")
    with pytest.raises(ValueError, match="tf, gaussian, antialias, noblur, pool"):
        get_model("lenetfc", "td", downscale="bicubic")
    with pytest.raises(ValueError, match="one per TD step"):
        get_model("resnet32", "td", widths=(64, 32))


def test_bad_input_sizes():
    td = get_model("lenetfc", "td")
    with pytest.raises(ValueError, match="divisible by 2\\*\\*2 = 4"):
        td(torch.rand(1, 1, 30, 30))
    twin = get_model("lenetfc", "td", inputs="per_scale")
    with pytest.raises(ValueError, match="sequence of 3 full-resolution images"):
        twin(torch.rand(1, 1, 28, 28))


def vgg_spec():
    """A user's own VGG-style network: two 3x3 convs per stage, three stages."""
    return BUSpec(
        name="vgg_small", in_channels=3, num_classes=5,
        stages=(Stage((Unit(16), Unit(16))), Stage((Unit(32), Unit(32)), down="pool2"),
                Stage((Unit(64), Unit(64)), down="pool2")),
    )


def conv(cin, cout, k):
    """Parameters of conv (with bias) + BN gamma, beta."""
    return cin * cout * k * k + cout + 2 * cout


def test_user_vgg_converts_with_expected_structure_and_count():
    td = to_topdown(vgg_spec())
    x = torch.rand(2, 3, 32, 32)
    feats = td.features(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 8, 8), (32, 16, 16), (16, 32, 32)]
    assert td(x).shape == (2, 5)
    expected = (
        conv(3, 64, 3) + conv(64, 64, 3)                                                  # coarsest stage on x/4
        + conv(64, 32, 1) + conv(3, 32, 3) + conv(64, 32, 3) + conv(32, 32, 3) * 2        # 1x1, entry, merge, stage
        + conv(32, 16, 1) + conv(3, 16, 3) + conv(32, 16, 3) + conv(16, 16, 3) * 2
        + conv(16, 5, 1)                                                                  # head
    )
    assert count_parameters(td) == expected
    rev = to_topdown(vgg_spec(), arrangement="rev")
    assert [f.shape[1] for f in rev.features(x)] == [16, 32, 64]
    uni = to_topdown(vgg_spec(), arrangement="uni")
    assert [f.shape[1] for f in uni.features(x)] == [32, 32, 32]


def test_torchvision_resnet18_converts_directly():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(num_classes=10)
    td = to_topdown(tv)
    x = torch.rand(2, 3, 64, 64)
    feats = td.features(x)
    assert feats[-1].shape == (2, 64, 64, 64)
    assert [f.shape[1] for f in feats] == [512, 512, 256, 128, 64]
    y = td(x)
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in td.parameters())


# ---------------------------------------------------------------------------------------------
# Fourier ring-band inputs (thesis §3.2.3, Fig. 3.8)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "shape"), [("lenetfc", (2, 1, 28, 28)), ("nin_light", (2, 1, 28, 28)),
                                             ("resnet32", (2, 3, 32, 32))])
def test_fourier_ring_td_trains_on_disjoint_bands(name, shape):
    from tdlib.pyramid import fourier_bands, frequency_radius

    torch.manual_seed(0)
    td = get_model(name, "td", inputs="fourier_rings")
    assert td.config["inputs"] == "fourier_rings" and td.config["ring_radii"] == (5.0, 10.0)
    x = torch.rand(*shape)
    y = td(x)
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in td.parameters())
    levels = td.input_levels(x)
    assert [lv.shape[-1] for lv in levels] == [shape[-1] // 2**k for k in range(3)]
    torch.testing.assert_close(levels[0], fourier_bands(x)[2], atol=1e-6, rtol=0)  # finest step: outer ring
    regions = [lambda r: r > 10, lambda r: (r > 5) & (r <= 10), lambda r: r <= 5]  # coarsest: inner disk
    scale = torch.fft.fft2(x).abs().max()
    for lv, region in zip(levels, regions, strict=True):
        spec = torch.fft.fft2(lv).abs()
        outside = spec[..., ~region(frequency_radius(*lv.shape[-2:]))]
        assert outside.numel() == 0 or outside.max() < 1e-5 * scale
    # Only the inputs differ: same parameters, same state_dict keys.
    blur = get_model(name, "td")
    assert count_parameters(td) == count_parameters(blur)
    assert td.state_dict().keys() == blur.state_dict().keys()
    blur.load_state_dict(td.state_dict())
    td.eval(), blur.eval()
    torch.testing.assert_close(td.level_features(levels)[-1], blur.level_features(levels)[-1])


def test_fourier_ring_td_options_and_errors():
    td = get_model("lenetfc", "uni", inputs="fourier_rings", ring_radii=[3, 7])
    assert td.config["ring_radii"] == (3.0, 7.0) and td(torch.rand(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"3 levels = BU downsamplings \+ 1.*2 ring radii; got 1 radii"):
        get_model("lenetfc", "td", inputs="fourier_rings", ring_radii=(5,))
    with pytest.raises(ValueError, match="resnet18_light: .*5 levels.*got 2 radii"):
        get_model("resnet18_light", "td", inputs="fourier_rings")
    with pytest.raises(ValueError, match="strictly increasing"):
        get_model("lenetfc", "td", inputs="fourier_rings", ring_radii=(10, 5))
    with pytest.raises(ValueError, match="inputs='fourier_rings' only"):
        get_model("lenetfc", "td", ring_radii=(5, 10))
    with pytest.raises(ValueError, match="does not apply to inputs='fourier_rings'"):
        get_model("lenetfc", "td", inputs="fourier_rings", downscale="pool")
    with pytest.raises(ValueError, match="single, per_scale, fourier_rings"):
        get_model("lenetfc", "td", inputs="rings")
    with pytest.raises(ValueError, match="blur-pyramid"):
        per_scale_twin(td)
    with pytest.raises(ValueError, match="one image tensor"):
        td([torch.rand(1, 1, 28, 28)] * 3)
    with pytest.raises(ValueError, match="options .* apply to TD variants only"):
        get_model("lenetfc", "bu", inputs="fourier_rings")
