"""Experiment 3's networks: FCN, U-net and the TD segmentation network from the one TD builder."""

import pytest
import torch
from torch import nn

from tdlib import BUSpec, Stage, Unit, count_parameters, get_model, list_models, to_topdown
from tdlib.nets import FCN, TopDownNet, UNet, count_all, model_info, seg_encoder_spec
from tdlib.nets.layers import SegmentationHead, Upsample2x
from tdlib.nets.topdown import per_scale_twin


def conv(cin, cout, k, bn=True):
    """Parameters of a conv with bias (+ BN gamma, beta)."""
    return cin * cout * k * k + cout + (2 * cout if bn else 0)


def test_registry_lists_segmentation_models_apart():
    assert list_models("segmentation") == ["fcn", "td_seg", "unet"]
    assert "fcn" not in list_models() and set(list_models(None)) == set(list_models()) | {"fcn", "td_seg", "unet"}
    assert model_info("td_seg").input_shape == (1, 56, 56)
    with pytest.raises(ValueError, match="unknown task"):
        list_models("detection")


@pytest.mark.parametrize(("name", "variant", "trainable", "everything"), [
    # trainable and Keras count_params() of the authors' FCN, Unet and TD (experiments.md §4)
    ("fcn", "bu", 1_151_484, 1_153_300),
    ("unet", "bu", 1_742_500, 1_745_468),
    ("td_seg", "bu", 1_562_212, 1_565_564),
    ("unet", "td", 1_562_212, 1_565_564),
])
def test_parameter_counts_equal_the_original_code(name, variant, trainable, everything):
    model = get_model(name, variant)
    assert count_parameters(model) == trainable
    assert count_all(model) == everything


@pytest.mark.parametrize("name", ["fcn", "unet", "td_seg"])
def test_per_pixel_scores_and_gradients(name):
    torch.manual_seed(0)
    model = get_model(name)
    y = model(torch.rand(2, 1, 56, 56))
    assert y.shape == (2, 12, 56, 56)
    assert float(y.detach().min()) < 0  # a BN ends every head, no ReLU
    y.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


def test_td_seg_is_the_td_builder_on_the_unet_encoder():
    td = get_model("td_seg")
    assert isinstance(td, TopDownNet) and td.spec == seg_encoder_spec()
    assert td.config["entry_units"] == 2 and td.config["head"] == "segmentation"
    twin = get_model("unet", "td")
    assert [(k, v.shape) for k, v in td.state_dict().items()] == [(k, v.shape) for k, v in twin.state_dict().items()]
    convs = lambda m: [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in m.modules()  # noqa: E731
                       if isinstance(c, nn.Conv2d)]
    # low: 2x c3-256 on x/4; per merge: c1 projection, entry 2x c3 on the image scale, merge c3, 2x c3
    assert convs(td.steps[0]) == [(1, 256, 3), (256, 256, 3)]
    assert convs(td.steps[1]) == [(256, 128, 1), (1, 128, 3), (128, 128, 3), (256, 128, 3), (128, 128, 3),
                                  (128, 128, 3)]
    assert convs(td.steps[2]) == [(128, 64, 1), (1, 64, 3), (64, 64, 3), (128, 64, 3), (64, 64, 3), (64, 64, 3)]
    assert isinstance(td.head, SegmentationHead) and convs(td.head) == [(64, 12, 1)]
    assert [f.shape[1:] for f in td.features(torch.rand(1, 1, 56, 56))] == [(256, 14, 14), (128, 28, 28),
                                                                             (64, 56, 56)]


def test_td_seg_per_scale_twin_gives_the_same_scores():
    torch.manual_seed(0)
    td = get_model("td_seg").eval()
    twin = per_scale_twin(td)
    x = torch.rand(2, 1, 56, 56)
    torch.testing.assert_close(twin([x, x, x]), td(x))


def test_fcn_and_unet_layers():
    fcn = get_model("fcn")
    assert isinstance(fcn, FCN)
    assert [(s.conv.in_channels, s.bn) for s in fcn.scores] == [(64, None), (128, None), (256, None)]  # bare 1x1
    assert fcn.up.mode == "bilinear" and fcn.bn.num_features == 12
    unet = get_model("unet")
    assert isinstance(unet, UNet) and isinstance(unet.up, Upsample2x) and unet.up.mode == "nearest"
    assert [(r.conv.in_channels, r.conv.out_channels, r.conv.kernel_size[0]) for r in unet.reduce] == [
        (256, 128, 1), (128, 64, 1)]
    assert [u[0].conv.in_channels for u in unet.decoder] == [256, 128]  # the concatenations
    bn = next(m for m in unet.modules() if isinstance(m, nn.BatchNorm2d))
    assert (bn.momentum, bn.eps) == (0.01, 1e-3)  # Keras defaults


def test_segmentation_models_check_their_input():
    with pytest.raises(ValueError, match="divisible by 8, got 28x20"):
        get_model("fcn")(torch.rand(1, 1, 28, 20))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        get_model("unet")(torch.rand(1, 3, 56, 56))
    with pytest.raises(ValueError, match="has no TD variants"):
        get_model("fcn", "td")
    with pytest.raises(ValueError, match="has no TD variants"):
        get_model("td_seg", "td")


def test_entry_units_and_head_options_of_the_builder():
    spec = BUSpec(name="vgg_small", in_channels=3, num_classes=5,
                  stages=(Stage((Unit(16), Unit(16))), Stage((Unit(32), Unit(32)), down="pool2"),
                          Stage((Unit(64), Unit(64)), down="pool2")))
    td = to_topdown(spec, entry_units=2, head="segmentation")
    x = torch.rand(2, 3, 32, 32)
    assert td(x).shape == (2, 5, 32, 32)
    expected = (
        conv(3, 64, 3) + conv(64, 64, 3)
        + conv(64, 32, 1) + conv(3, 32, 3) + conv(32, 32, 3) + conv(64, 32, 3) + conv(32, 32, 3) * 2
        + conv(32, 16, 1) + conv(3, 16, 3) + conv(16, 16, 3) + conv(32, 16, 3) + conv(16, 16, 3) * 2
        + conv(16, 5, 1)
    )
    assert count_parameters(td) == expected
    assert to_topdown(spec, entry_units=2)(x).shape == (2, 5)  # the classifier head stays available
    with pytest.raises(ValueError, match="only 2 unit"):
        to_topdown(spec, entry_units=3)
    with pytest.raises(ValueError, match="integer >= 1"):
        to_topdown(spec, entry_units=0)
    with pytest.raises(ValueError, match="classifier, segmentation"):
        to_topdown(spec, head="dense")
    with pytest.raises(ValueError, match="without a stem"):
        get_model("resnet32", "td", entry_units=2)
