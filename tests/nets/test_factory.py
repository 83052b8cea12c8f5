"""The BU zoo and the registry."""

import pytest
import torch
import torchvision

from tdlib import (
    BUSpec,
    Stage,
    Unit,
    build_bottomup,
    count_parameters,
    describe,
    get_model,
    list_models,
)
from tdlib.nets import count_all, load_torchvision_weights, model_info


def test_registry_lists_the_paper_models():
    assert list_models() == ["lenetfc", "nin", "nin_light", "resnet18_light", "resnet32"]


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'vgg'.*lenetfc, nin, nin_light"):
        get_model("vgg")


def test_unknown_variant_lists_valid_names():
    with pytest.raises(ValueError, match="bu, td, uni, rev"):
        get_model("lenetfc", "down")


@pytest.mark.parametrize(
    ("name", "trainable", "everything"),
    [  # trainable and Keras count_params() of the authors' models (experiments.md §4)
        ("lenetfc", 7_670, 7_798),
        ("nin_light", 62_094, 62_818),
        ("nin", 969_822, 972_658),
        ("resnet32", 467_946, 470_218),
        ("resnet18_light", 2_799_114, 2_803_018),
    ],
)
def test_bu_parameter_counts(name, trainable, everything):
    model = get_model(name)
    assert count_parameters(model) == trainable
    assert count_all(model) == everything


@pytest.mark.parametrize("name", ["lenetfc", "nin_light", "nin", "resnet32", "resnet18_light"])
def test_bu_forward_backward_and_stage_resolutions(name):
    c, h, w = model_info(name).input_shape
    model = get_model(name)
    x = torch.rand(2, c, h, w)
    feats = model.features(x)
    assert [f.shape[-1] for f in feats] == [w // 2 ** sum(s.down is not None for s in model.spec.stages[: i + 1])
                                             for i in range(len(feats))]
    y = model(x)
    assert y.shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_input_errors_say_what_was_expected():
    model = get_model("nin_light")
    with pytest.raises(ValueError, match=r"divisible by 2\*\*2 = 4.*30x30"):
        model(torch.rand(1, 1, 30, 30))
    with pytest.raises(ValueError, match="expected 1 input channels, got 3"):
        model(torch.rand(1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        model(torch.rand(1, 28, 28))


def test_lenetfc_layers_match_the_original():
    m = get_model("lenetfc")
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convs] == [
        (1, 6, 5), (6, 16, 5), (16, 32, 3), (32, 10, 1)]
    assert all(c.bias is not None for c in convs)
    bn = next(mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d))
    assert (bn.momentum, bn.eps) == (0.01, 1e-3)  # Keras momentum 0.99, eps 1e-3


def test_nin_has_dropout_after_each_pool():
    m = get_model("nin_light")
    kinds = [type(mod).__name__ for stage in m.stages for mod in stage]
    assert kinds.count("Dropout") == 2
    assert kinds.index("Dropout") == kinds.index("MaxPool") + 1


def test_resnet_scores_are_unbounded_and_nin_scores_nonnegative():
    torch.manual_seed(0)
    nin, res = get_model("nin_light").eval(), get_model("resnet32").eval()
    assert (nin(torch.rand(4, 1, 28, 28)) >= 0).all()  # conv -> BN -> ReLU -> GAP head
    assert (res(torch.rand(4, 3, 32, 32)) < 0).any()   # Dense head


def test_paper_variant_bu_lenetfc():
    assert count_parameters(get_model("lenetfc", paper_variant=True)) == 8_790


def test_bu_rejects_td_options():
    with pytest.raises(ValueError, match="TD variants only"):
        get_model("lenetfc", merge="add")


def test_torchvision_resnet18_description_is_exact():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(num_classes=10).eval()
    spec = describe(tv)
    assert spec.downsamplings == 5 and spec.unit == "basic" and not spec.bias
    bu = load_torchvision_weights(build_bottomup(spec), tv).eval()
    assert count_parameters(bu) == count_parameters(tv)
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(bu(x), tv(x), rtol=0, atol=1e-6)


def test_describe_rejects_unknown_models():
    with pytest.raises(TypeError, match="BasicBlock"):
        describe(torchvision.models.resnet50())
    with pytest.raises(TypeError, match="BUSpec"):
        describe(torch.nn.Linear(2, 2))


def test_spec_validation():
    with pytest.raises(ValueError, match="does not downsample"):
        BUSpec("bad", 1, 10, (Stage((Unit(4),)), Stage((Unit(8),))))
    with pytest.raises(ValueError, match="only downsample after a stem"):
        BUSpec("bad", 1, 10, (Stage((Unit(4),), down="pool2"),))
