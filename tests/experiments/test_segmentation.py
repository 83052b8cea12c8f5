"""tdlib.experiments.segmentation: the grid per profile, the tables and claims, a tiny run through the cache."""

import math

import pandas as pd
import pytest
import torch

from tdlib.book import claims as cl
from tdlib.book import results
from tdlib.book.chapters import settings
from tdlib.experiments import segmentation as exp

TINY = {"models": ["fcn"], "repeats": 1, "epochs": 1, "train_subset": 40, "test_subset": 8, "recalibrate_bn": True,
        "examples": 2}


def test_profiles_expand_to_the_expected_cells():
    paper = exp.cell_configs(settings("segmentation", "paper"))
    assert len(paper) == 3 * 4
    assert [c.model for c in paper[:3]] == ["unet", "fcn", "td_seg"]
    assert {c.seed for c in paper} == {0, 1, 2, 3}
    for c in paper:
        assert (c.dataset, c.epochs, c.lr, c.batch_size, c.weight_decay) == ("fashion_mnist_mesh", 20, 0.01, 128, 0.0)
        assert (c.schedule, c.loss, c.val_fraction) == ("plateau", "weighted_pixel_ce", 0.1)
        assert c.train_subset is None and c.test_subset is None and not c.recalibrate_bn
    cpu = exp.cell_configs(settings("segmentation", "cpu"))
    assert len(cpu) == 3 * 2 and {c.seed for c in cpu} == {0, 1}
    assert all(c.epochs == 3 and c.train_subset == 3_500 and c.test_subset is None and c.recalibrate_bn for c in cpu)
    smoke = exp.cell_configs(settings("segmentation", "smoke"))
    assert len(smoke) == 3 and all(c.epochs == 1 and c.train_subset <= 500 for c in smoke)
    assert exp.plan(settings("segmentation", "cpu"))[0] == ("train", cpu[0].as_dict())
    with pytest.raises(ValueError, match="unknown segmentation network"):
        exp.cell_configs({"models": ["resnet32"], "repeats": 1})


def test_grid_table_and_reductions_state_what_a_profile_reduces():
    grid = exp.grid_table(settings("segmentation", "paper"))
    assert grid.label.tolist() == ["U-net", "FCN", "TD"]
    first = grid.iloc[0]
    assert (first.repeats, first.epochs, first.train_meshes, first.val_meshes, first.test_meshes, first.steps) == (
        4, 20, 13_500, 1_500, 2_500, 2_120)
    assert exp.reductions(settings("segmentation", "paper")) == "This grid has the paper's settings."
    text = exp.reductions(settings("segmentation", "cpu"))
    assert "2 repeats instead of 4" in text and "3 epochs instead of 20" in text
    assert "3,150 training and 350 validation meshes" in text and "test meshes" not in text
    assert "BatchNorm" in text


def _entry(model, repeat, miou, acc=0.9, iou=None, profile="cpu"):
    iou = iou if iou is not None else [miou] * 11 + [0.1]
    summary = {"dataset": "fashion_mnist_mesh", "model": model, "variant": "bu", "widths": None, "repeat": repeat,
               "epochs": 3, "test_acc": acc, "test_loss": 1.0, "val_acc": 0.5, "seconds_per_epoch": 10.0,
               "params": exp.PAPER_CODE_PARAMS[model], "device": "cpu", "test_miou": miou, "test_iou": iou}
    config = {"dataset": "fashion_mnist_mesh", "model": model, "train_subset": 1000, "test_subset": None,
              "val_fraction": 0.1}
    return results.Entry("segmentation", "train", config, {"summary": summary}, {"profile": profile}, None)


def test_tables_and_claims_on_hand_made_entries():
    entries = [_entry("unet", 0, 0.80), _entry("unet", 1, 0.82), _entry("fcn", 0, 0.75), _entry("fcn", 1, 0.77),
               _entry("td_seg", 0, 0.74), _entry("td_seg", 1, 0.76, iou=[math.nan] + [0.76] * 10 + [0.1])]
    df = exp.table(entries)
    assert len(df) == 6 and df.label.tolist()[:3] == ["U-net", "U-net", "FCN"]
    assert (df.train_meshes == 900).all() and (df.test_meshes == 2_500).all() and (df.meshes_per_s == 90).all()
    s = exp.summary(df).set_index("model")
    assert s.miou_mean["unet"] == pytest.approx(81.0) and s.miou_std["unet"] == pytest.approx(math.sqrt(2))
    assert s.diff_points["fcn"] == pytest.approx(0.0) and s.paper_miou["td_seg"] == 75.0
    assert s.pixel_acc_mean["td_seg"] == pytest.approx(90.0)
    # times from other runs (the reduced grid): the IoUs stay, the times change; a network they lack gets NaN
    quiet = df[df.model != "fcn"].assign(seconds_per_epoch=30.0, meshes_per_s=30.0)
    t = exp.summary(df, quiet).set_index("model")
    assert t.miou_mean.equals(s.miou_mean) and t.seconds_per_epoch["unet"] == 30.0 and t.meshes_per_s["td_seg"] == 30.0
    assert math.isnan(t.seconds_per_epoch["fcn"]) and list(t.columns) == list(s.columns)
    long = exp.iou_long(df)
    assert len(long) == 6 * 12 and long["class"].iloc[10] == "background" and long["class"].iloc[11] == "ignore"
    pc = exp.per_class(df)
    assert list(pc.columns) == ["class", "U-net", "FCN", "TD"]
    assert pc["class"].iloc[0] == "T-shirt/top" and pc["class"].iloc[11] == "ignore (not in the mean)"
    assert pc["U-net"].iloc[0] == "81.0 ± 1.4" and pc["TD"].iloc[0] == "74.0"  # the NaN repeat is skipped
    assert "Profile `cpu`" in exp.profile_note(df, "cpu") and "over 2 repeats" in exp.profile_note(df, "cpu")
    claims = exp.claims(df, "cpu")
    assert claims.id.tolist() == list(exp.CLAIMS) and claims.verdict.isin(cl.VERDICTS).all()
    got = claims.set_index("id")
    assert got.verdict.to_dict() == {"seg-miou": cl.HOLDS, "seg-order": cl.HOLDS, "seg-td-comparable": cl.HOLDS}
    assert "U-net 81.0 % (paper 81 %, +0.0 points)" in got.measured["seg-miou"]
    assert "ours U-net > FCN > TD" in got.measured["seg-order"]
    assert "U-net - TD +6.0 points (paper +6)" in got.measured["seg-order"]
    assert "FCN - TD +1.0 points (paper +1)" in got.measured["seg-order"]
    assert "comparable (at most 6 points below each) yes, below both yes" in got.measured["seg-td-comparable"]
    assert set(got.profile) == {"cpu"}
    # a different ordering, one repeat, the paper profile: the verdicts flip
    swapped = exp.table([_entry("unet", 0, 0.70, profile="paper"), _entry("fcn", 0, 0.78, profile="paper"),
                         _entry("td_seg", 0, 0.60, profile="paper")])
    note = exp.profile_note(swapped, "paper")
    assert "Profile" not in note and "One repeat" in note
    got = exp.claims(swapped, "paper").set_index("id")
    assert got.verdict.to_dict() == {"seg-miou": cl.FAILS, "seg-order": cl.FAILS, "seg-td-comparable": cl.FAILS}
    assert "ours FCN > U-net > TD" in got.measured["seg-order"]
    assert "comparable (at most 6 points below each) no" in got.measured["seg-td-comparable"]
    # TD above one BU network, within the margin: comparable but not below both
    above = exp.table([_entry("unet", 0, 0.80), _entry("fcn", 0, 0.70), _entry("td_seg", 0, 0.75)])
    assert exp.claims(above, "cpu").set_index("id").verdict["seg-td-comparable"] == cl.PARTLY


def test_claims_list_every_claim_once_even_without_runs():
    empty = exp.claims(exp.table([]), "smoke")
    assert empty.id.tolist() == list(exp.CLAIMS) and empty.id.is_unique
    assert (empty.verdict == cl.UNMEASURED).all() and list(empty.columns) == list(cl.COLUMNS)
    only_td = exp.claims(exp.table([_entry("td_seg", 0, 0.75)]), "cpu").set_index("id").verdict
    assert only_td.to_dict() == {"seg-miou": cl.HOLDS, "seg-order": cl.UNMEASURED, "seg-td-comparable": cl.UNMEASURED}


def test_run_cell_trains_once_through_the_cache_and_keeps_example_predictions(tmp_path, monkeypatch, fashion_available):
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    real_train, calls = exp.train, []

    def recording(config, **kw):
        calls.append((config, kw["checkpoint"]))
        return real_train(config, **kw)

    monkeypatch.setattr(exp, "train", recording)
    entries = exp.run_grid(TINY, "smoke", progress=False)
    (config, checkpoint), = calls
    assert checkpoint == exp.weights_path(config).with_suffix(".ckpt") and not checkpoint.exists()
    assert len(results.entries("segmentation", root=tmp_path)) == 1
    assert not exp.weights_path(config).exists()  # weights only on request
    assert len(entries[0].result["examples"]) == exp.STORED_EXAMPLES

    monkeypatch.setattr(exp, "train", lambda *a, **k: pytest.fail("a cached cell is trained again"))
    again = exp.run_grid(TINY, "smoke", progress=False)
    assert again[0].path == entries[0].path
    df = exp.table(again)
    row = df.iloc[0]
    assert (row.label, row.train_meshes, row.test_meshes, row.params) == ("FCN", 36, 8, 1_151_484)
    assert 0 <= row.miou <= 100 and len(row.iou) == 12
    assert row.miou == pytest.approx(pd.Series(row.iou[:11]).mean())  # mean of the non-ignore classes

    images, truth = exp.example_meshes(TINY["examples"])
    assert images.shape == (2, 1, 56, 56) and truth.shape == (2, 56, 56)
    preds = exp.predictions(TINY, TINY["examples"])
    assert list(preds) == ["FCN"] and preds["FCN"].shape == (2, 56, 56)
    assert preds["FCN"].min() >= 0 and preds["FCN"].max() < 12
    with pytest.raises(FileNotFoundError, match="no cached run"):
        exp.predictions({**TINY, "epochs": 2}, 2)
    with pytest.raises(ValueError, match="between 1 and 8"):
        exp.predictions(TINY, 9)


def test_label_maps_round_trip_through_their_text_form():
    m = torch.randint(0, 12, (56, 56), generator=torch.Generator().manual_seed(0))
    text = exp.encode_labels(m)
    assert len(text) == 56 * 56 and set(text) <= set("0123456789ab")
    assert (exp.decode_labels(text) == m.numpy()).all()


def test_highest_fidelity_takes_a_paper_repeat_only_with_all_three_networks(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    cpu = settings("segmentation", "cpu")
    stored = [results.store(exp.CHAPTER, exp.EXPERIMENT, c.as_dict(), {"summary": {"test_miou": 0.5}},
                            {"profile": "cpu"}) for c in exp.cell_configs(cpu)]
    paper = exp.cell_configs(settings("segmentation", "paper"))
    for c in paper:
        if c.seed == 0 or (c.seed == 1 and c.model != "td_seg"):  # repeat 1 lacks its TD: not used
            results.store(exp.CHAPTER, exp.EXPERIMENT, c.as_dict(), {"summary": {"test_miou": 0.8}},
                          {"profile": "paper"})
    best = exp.highest_fidelity(stored, cpu)
    assert [(e.config["model"], e.config["seed"], e.provenance["profile"]) for e in best] == [
        (m, 0, "paper") for m in exp.MODELS]
    two = exp.highest_fidelity(stored[:2], cpu)  # a grid of U-net and FCN alone: repeat 1 is complete for it
    assert [(e.config["model"], e.config["seed"]) for e in two] == [("unet", 0), ("fcn", 0), ("unet", 1), ("fcn", 1)]
    df = exp.table([_entry("unet", 0, 0.8, profile="paper"), _entry("fcn", 0, 0.7, profile="paper"),
                    _entry("td_seg", 0, 0.7, profile="paper")])
    assert "except repeat 0, cached at the `paper` profile" in exp.profile_note(df, "cpu")
    assert list(df.device) == ["cpu"] * 3  # the machine that trained each run, for the time table
    assert set(exp.iou_long(df).profile) == {"paper"}
