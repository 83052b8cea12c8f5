"""The layers Grad-CAM can use: names, resolutions, forward order, and the authors' act_k."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tdlib import get_model
from tdlib.explain import Layer, layer_names, layers, paper_layers
from tdlib.speed import prepare_inference


def test_lenetfc_bu_and_td_act_layers_and_resolutions():
    bu, td = get_model("lenetfc"), get_model("lenetfc", "td")
    assert [(x.name, x.channels, x.resolution, x.paper) for x in layers(bu)] == [
        ("stages.0.0", 6, (28, 28), "act_1"), ("stages.1.1", 16, (14, 14), "act_2"),
        ("stages.2.1", 32, (7, 7), "act_3"), ("head.unit", 10, (7, 7), "act_4")]
    acts = {x.paper: (x.channels, x.resolution) for x in layers(td) if x.paper}
    # experiments.md §3.1: TD act_1 = c3-32 at 7x7, act_2 = c5-16 at 14, act_3 = c5-6 at 28, act_4 = c1-10 at 28
    assert acts == {"act_1": (32, (7, 7)), "act_2": (16, (14, 14)), "act_3": (6, (28, 28)), "act_4": (10, (28, 28))}


def test_nin_light_act4_is_7x7_in_bu_and_28x28_in_td():
    for variant, size, widths in (("bu", 7, [24, 48, 48, 10]), ("td", 28, [48, 48, 24, 10])):
        info = {x.paper: x for x in layers(get_model("nin_light", variant)) if x.paper}
        assert info["act_4"].resolution == (size, size)
        assert [info[f"act_{k}"].channels for k in range(1, 5)] == widths


def test_td_layers_run_coarse_to_fine():
    for name in ("lenetfc", "nin_light", "resnet32"):
        td = get_model(name, "td")
        main = [x for x in layers(td) if ".entry" not in x.name]  # entries run on the finer input they merge
        heights = [x.height for x in main]
        assert heights == sorted(heights), name
        bu_heights = [x.height for x in layers(get_model(name)) if x.name != "stem"]
        assert bu_heights == sorted(bu_heights, reverse=True), name


def test_resnet_acts_are_relu_modules_and_the_input_shape_is_a_parameter():
    names = paper_layers(get_model("resnet18_light", "td"))
    assert names == {"act_1": "steps.0.units.0.act1", "act_2": "steps.1.transition.act1",
                     "act_3": "steps.2.transition.act1", "act_4": "steps.3.transition.act1", "act_5": "head.act"}
    bu = get_model("resnet32")
    info = {x.paper: x for x in layers(bu, (3, 64, 64)) if x.paper}  # twice the paper's size: twice the maps
    assert {k: v.resolution for k, v in info.items()} == {
        "act_1": (64, 64), "act_2": (64, 64), "act_3": (32, 32), "act_4": (16, 16)}
    assert all(v.kind == "ReLU" for v in info.values())


def test_all_lists_every_submodule_that_runs_once():
    td = get_model("lenetfc", "td")
    everything = {x.name for x in layers(td, all=True)}
    assert {"steps.2.entry.conv", "steps.2.units.0.bn", "steps.1.merge"} <= everything
    assert "steps.1.merge.unit" not in everything  # never called: the fused merge uses its weights directly
    assert {x.name for x in layers(td)} <= everything
    assert set(layer_names(td)) == {x.name for x in layers(td)}


def test_segmentation_networks_and_the_fast_copy():
    for name in ("fcn", "unet", "td_seg"):
        model = get_model(name)
        got = layers(model)
        assert got and all(isinstance(x, Layer) for x in got) and paper_layers(model) == {}
    assert layers(get_model("td_seg"))[-1] == Layer("head", "SegmentationHead", 12, 56, 56)
    nin = get_model("nin_light", "td")
    assert [x.name for x in layers(prepare_inference(nin))] == [x.name for x in layers(nin)]


def test_any_module_and_clear_errors():
    seq = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(2, 3))
    assert [(x.name, x.resolution) for x in layers(seq, (1, 8, 8))] == [("0", (8, 8)), ("1", (8, 8)), ("2", (1, 1))]
    with pytest.raises(ValueError, match="input_shape"):
        layers(seq)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        layers(seq, (8, 8))
    model = get_model("lenetfc").train()
    layers(model)
    assert model.training and all(m.training for m in model.modules())
    assert all(len(m._forward_hooks) == 0 for m in model.modules())
    torch.testing.assert_close(model.stages[0][0].bn.running_mean, torch.zeros(6))  # no statistics updated
