"""tdlib.experiments.fourier: the grid per profile, the tables, the claims' verdicts, a tiny cached run."""

import numpy as np
import pandas as pd
import pytest

from tdlib.book import claims as cl
from tdlib.book import results
from tdlib.book.chapters import settings
from tdlib.experiments import fourier as exp


def test_profiles_expand_to_the_expected_cells():
    cpu = exp.cell_configs(settings("fourier", "cpu"))
    # per repeat: 2 references + 2 kinds x 3 radii x 2 variants + 2 ring settings + 2 growth regimes = 18,
    # + LeNetFC's 6-epoch TD from scratch, the reference of its 6-epoch grown runs
    assert len(cpu) == 19 * (2 + 2) + 18
    grown = {(c.model, c.epochs) for c in cpu if exp.kind_of(c).startswith("grow-")}
    assert grown == {("lenetfc", 6), ("resnet32", 4)}
    assert {c.epochs for c in cpu if c.model == "lenetfc" and exp.kind_of(c) == "original" and c.variant == "td"
            } == {3, 6}
    kinds = pd.Series([exp.kind_of(c) for c in cpu]).value_counts()
    assert kinds["lowpass"] == kinds["highpass"] == 3 * 2 * 5 and kinds["rings"] == 2 * 5
    assert kinds["grow-trainable"] == kinds["grow-frozen"] == 5
    assert {c.ring_radii for c in cpu if c.dataset == "cifar10" and exp.kind_of(c) == "rings"} == {(5.0, 10.0),
                                                                                                 (4.0, 8.0)}
    assert all(c.epochs >= 3 for c in cpu)  # growing needs an epoch per TD step
    assert all(c.variant == "td" for c in cpu if exp.kind_of(c) in ("rings", "grow-trainable", "grow-frozen"))
    paper = exp.cell_configs(settings("fourier", "paper"))
    assert all(c.train_subset is None and not c.recalibrate_bn for c in paper)
    assert {c.model for c in paper if c.dataset == "cifar10"} == {"nin", "resnet32"}
    assert exp.grid_table(settings("fourier", "cpu")).runs.sum() == len(cpu)


def test_kind_of_reads_the_config():
    assert exp.kind_of({"variant": "bu"}) == "original"
    assert exp.kind_of({"fourier": "highpass", "fourier_radius": 4.0}) == "highpass"
    assert exp.kind_of({"td_inputs": "fourier_rings"}) == "rings"
    assert exp.kind_of({"grow": "frozen"}) == "grow-frozen"


def _df(change_low, change_high, rings=-1.0, trainable=0.2, frozen=-3.0, radii=(4.0, 8.0)):
    """Synthetic :func:`exp.table` rows of one network pair, 2 repeats: changes from the references in points;
    the grown runs have 6 epochs and a 6-epoch TD reference 1 point above the 3-epoch one."""
    rows = []
    ref = {"bu": 95.0, "td": 96.0}
    for r in range(2):
        def add(variant, kind, acc, radius=np.nan, rings_="", repeat=r, epochs=3):
            rows.append({"dataset": "mnist", "model": "lenetfc", "variant": variant, "kind": kind, "radius": radius,
                         "ring_radii": rings_, "repeat": repeat, "acc": acc, "acc_filtered": np.nan,
                         "seconds_per_epoch": 1.0, "epochs": epochs, "profile": "cpu"})
        for v in ("bu", "td"):
            add(v, "original", ref[v])
            for radius in radii:
                add(v, "lowpass", ref[v] + change_low[v], radius)
                add(v, "highpass", ref[v] + change_high[v], radius)
        add("td", "rings", ref["td"] + rings, rings_="5/10")
        add("td", "original", ref["td"] + 1.0, epochs=6)
        add("td", "grow-trainable", ref["td"] + 1.0 + trainable, epochs=6)
        add("td", "grow-frozen", ref["td"] + 1.0 + frozen, epochs=6)
    return pd.DataFrame(rows)


def test_tables_pair_each_run_with_its_reference():
    df = _df({"bu": -0.5, "td": -0.2}, {"bu": -5.0, "td": -9.0})
    f = exp.filtering(df)
    assert len(f) == 2 * 2 * 2
    low_bu = f[(f.kind == "lowpass") & (f.variant == "bu")]
    assert low_bu.change.tolist() == pytest.approx([-0.5, -0.5]) and low_bu.reference.tolist() == [95.0, 95.0]
    assert f.epochs.tolist() == [3] * 8  # filtered runs against the reference with as many epochs
    v = exp.variants_vs_td(df).set_index("kind")
    assert v.loc["rings"].change == pytest.approx(-1.0) and v.loc["grow-frozen"].change == pytest.approx(-3.0)
    assert v.loc["grow-frozen"].td == pytest.approx(97.0) and v.loc["rings"].td == pytest.approx(96.0)
    assert v.loc["grow-trainable"].epochs == 6
    assert v.loc["rings"].spread == pytest.approx(0.0) and v.loc["rings"].repeats == 2


def test_claims_hold_when_the_numbers_say_so_and_fail_otherwise():
    good = exp.claims(_df({"bu": -0.5, "td": -0.2}, {"bu": -5.0, "td": -9.0}), "cpu").set_index("id").verdict
    assert good.to_dict() == {"fourier-lowpass": cl.HOLDS, "fourier-highpass": cl.HOLDS, "fourier-rings": cl.HOLDS,
                              "grow-trainable": cl.HOLDS, "grow-frozen": cl.HOLDS}
    bad = exp.claims(_df({"bu": -4.0, "td": -6.0}, {"bu": -9.0, "td": -5.0}, rings=+1.0, trainable=-4.0,
                         frozen=0.0), "cpu").set_index("id").verdict
    assert bad["fourier-lowpass"] == cl.FAILS and bad["fourier-rings"] == cl.FAILS
    assert bad["grow-trainable"] == cl.FAILS and bad["grow-frozen"] == cl.FAILS
    assert bad["fourier-highpass"] == cl.PARTLY  # worse everywhere, but TD's loss is the smaller
    empty = exp.claims(exp.table([]), "smoke")
    assert (empty.verdict == cl.UNMEASURED).all() and list(empty.columns) == list(cl.COLUMNS)


@pytest.mark.usefixtures("mnist_available")
def test_run_cell_stores_the_filtered_test_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    s = {"datasets": ["mnist"], "models": {"mnist": ["lenetfc"]}, "variants": ["bu"], "radii": [6],
         "ring_radii": [[5, 10]], "grow": ["frozen"], "repeats": 1, "epochs": 3, "train_subset": 128,
         "test_subset": 32, "recalibrate_bn": False}
    configs = exp.cell_configs(s)
    # a BU-only grid still gets the TD from scratch that the grown TD is compared with
    assert [exp.kind_of(c) for c in configs] == ["original", "lowpass", "highpass", "rings", "original", "grow-frozen"]
    assert (configs[4].variant, configs[4].epochs) == ("td", 3)
    entries = [exp.run_cell(c, "smoke", device="cpu", progress=False) for c in (configs[1], configs[3], configs[5])]
    low = entries[0].result
    assert low["filtered"]["test_acc_original"] == pytest.approx(low["summary"]["test_acc"])
    assert [h["stage"] for h in entries[2].result["history"]] == [1, 2, 3]
    monkeypatch.setattr(exp, "train", lambda *a, **k: pytest.fail("a cached cell is trained again"))
    exp.run_cell(configs[1], "smoke", device="cpu", progress=False)
    df = exp.table(results.entries("fourier", root=tmp_path))
    assert sorted(df.kind) == ["grow-frozen", "lowpass", "rings"]
    assert df.set_index("kind").ring_radii["rings"] == "5/10"
    assert not np.isnan(df.set_index("kind").acc_filtered["lowpass"])
    curves = exp.growth_curves(results.entries("fourier", root=tmp_path))
    assert curves.kind.unique().tolist() == ["grow-frozen"] and curves.stage.tolist() == [1, 2, 3]
