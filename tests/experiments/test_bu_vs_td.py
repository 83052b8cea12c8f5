"""tdlib.experiments.bu_vs_td: the grid, its cache (resume after an interruption), the comparisons."""

import numpy as np
import pandas as pd
import pytest
import torch

from tdlib.book import claims as cl
from tdlib.book import results
from tdlib.book.chapters import settings
from tdlib.experiments import bu_vs_td as exp
from tdlib.train import TrainConfig, evaluate, load_data, load_weights

TINY = {"datasets": ["mnist"], "models": {"mnist": ["lenetfc"]}, "variants": ["bu", "td"], "repeats": 2,
        "epochs": 1, "train_subset": 128, "test_subset": 64, "wide_td": False}


def test_profiles_expand_to_the_expected_cells():
    paper = exp.cell_configs(settings("bu-vs-td", "paper"))
    # 2 datasets x 2 models x 4 variants + 2 datasets x 2 models x 4 variants, 4 repeats, + 2 wide ResNet TDs x 4
    assert len(paper) == (16 + 16) * 4 + 2 * 4
    assert {c.epochs for c in paper if c.dataset == "cifar10_aug"} == {200}
    assert all(c.train_subset is None and c.test_subset is None for c in paper)
    cpu = exp.cell_configs(settings("bu-vs-td", "cpu"))
    lenet = [c for c in cpu if c.model == "lenetfc"]
    assert {c.seed for c in lenet} == {0, 1} and all(c.train_subset is None for c in lenet)
    assert [c.widths for c in cpu if c.widths] == [(64, 32, 32), (64, 32, 32)]
    assert exp.plan(settings("bu-vs-td", "cpu"))[0] == ("train", cpu[0].as_dict())


def test_paper_profile_saves_every_repeat(tmp_path, monkeypatch, mnist_available):
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    tiny = {**TINY, "variants": ["bu"], "train_subset": 64, "test_subset": 32}
    exp.run_grid(tiny, "paper", progress=False)
    saved = {exp.weights_path(c).is_file() for c in exp.cell_configs(tiny)}
    assert saved == {True}, "the attacks and Grad-CAM chapters use every paper repeat"
    assert not list(tmp_path.rglob("*.ckpt")), "checkpoints are removed once a run is cached"


def test_train_images_counts_the_pool_minus_validation():
    assert exp.train_images({"dataset": "mnist", "train_subset": None, "val_fraction": 0.1}) == 54_000
    assert exp.train_images({"dataset": "cifar10_aug", "train_subset": 2000, "val_fraction": 0.1}) == 1_800


def test_interrupted_grid_resumes_where_it_stopped(tmp_path, monkeypatch, mnist_available):
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    real_train, calls = exp.train, []

    def interrupted(config, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the third run
        calls.append(config)
        return real_train(config, **kw)

    monkeypatch.setattr(exp, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        exp.run_grid(TINY, "smoke", progress=False)
    assert len(results.entries("bu-vs-td", root=tmp_path)) == 2
    assert not list(tmp_path.rglob("*.tmp"))

    calls.clear()
    monkeypatch.setattr(exp, "train", lambda config, **kw: (calls.append(config), real_train(config, **kw))[1])
    entries = exp.run_grid(TINY, "smoke", progress=False)
    assert [(c.variant, c.seed) for c in calls] == [("bu", 1), ("td", 1)], "only the missing runs are trained"
    df = exp.table(entries)
    assert len(df) == 4 and set(df.label) == {"BU", "TD"} and (df.train_images == 115).all()
    saved = sorted(p.name for p in tmp_path.rglob("*.pt"))
    assert len(saved) == 2, "weights of repeat 0 only"
    model = exp.load_trained("mnist", "lenetfc", "td", TINY)
    assert sum(p.numel() for p in model.parameters()) == 14_452
    curve = pd.DataFrame(entries[0].result["curve"])
    assert curve.epoch.iloc[-1] == pytest.approx(1.0)


def _fake(rows):
    df = pd.DataFrame(rows, columns=["dataset", "model", "variant", "widths", "repeat", "test_acc",
                                     "seconds_per_epoch", "epochs", "train_images", "params"])
    df["label"] = [exp.variant_label(v, w) for v, w in zip(df.variant, df.widths, strict=True)]
    df["images_per_s"] = df.train_images / df.seconds_per_epoch
    return df


def test_relative_pairs_by_repeat_and_claims_quote_the_numbers():
    cells = {  # (variant, widths): [(accuracy, seconds per epoch) for repeats 0 and 1]
        ("bu", None): [(0.90, 10.0), (0.88, 12.0)],
        ("td", None): [(0.84, 20.0), (0.84, 18.0)],
        ("uni", None): [(0.80, 15.0), (0.82, 15.0)],
        ("rev", None): [(0.91, 40.0), (0.89, 36.0)],
        ("td", (64, 32, 32)): [(0.88, 22.0), (0.86, 22.0)],
    }
    df = _fake([("cifar10", "resnet32", v, w, r, acc, sec, 1, 100, 1)
                for (v, w), runs in cells.items() for r, (acc, sec) in enumerate(runs)])
    rel = exp.relative(df).set_index("label")
    assert rel.loc["TD", "d_acc_mean"] == pytest.approx(-5.0)  # (-6 + -4) / 2
    assert rel.loc["TD", "d_acc_std"] == pytest.approx(np.std([-6, -4], ddof=1))
    assert rel.loc["TD", "time_ratio_mean"] == pytest.approx((2.0 + 1.5) / 2)
    assert rel.loc["TDrev", "d_acc_mean"] == pytest.approx(1.0)
    claims = exp.claims(df, "paper")
    assert claims.id.tolist() == list(exp.CLAIMS) and claims.verdict.isin(cl.VERDICTS).all()
    got = claims.set_index("id")
    assert got.verdict.to_dict() == {"bvt-td-on-par": cl.FAILS, "bvt-tdrev-best": cl.HOLDS,
                                     "bvt-resnet-gap": cl.HOLDS, "bvt-resnet-wide": cl.HOLDS,
                                     "bvt-td-slower": cl.HOLDS, "bvt-tdrev-slowest": cl.HOLDS}
    assert "within 1 point of BU or better in 0 of 1" in got.measured["bvt-td-on-par"]
    assert "TDrev the most accurate in 1 of 1" in got.measured["bvt-tdrev-best"]
    assert "gap +5.00 points" in got.measured["bvt-resnet-gap"]
    assert "recovers 60 % of the 5.00-point gap" in got.measured["bvt-resnet-wide"]  # (87 - 84) / (89 - 84)
    assert exp.profile_note(df, "paper") == ""
    ab = exp.absolute(df).set_index("label")
    assert ab.loc["TD", "paper_text"] == "~83" and ab.loc["BU", "acc_mean"] == pytest.approx(89.0)
    # Equal runs give a std of 0; the runs themselves are listed, in the order of the repeats
    assert ab.loc["TD", "acc_std"] == 0 and ab.loc["TD", "acc_runs"] == "84.00, 84.00"
    assert exp.absolute(df.iloc[::-1]).set_index("label").loc["TDuni", "acc_runs"] == "80.00, 82.00"
    # TD on par and as fast as BU, TDuni the best and slowest, the wide TD no better than TD: the verdicts flip
    cells[("td", None)] = [(0.90, 10.0), (0.88, 12.0)]
    cells[("uni", None)] = [(0.95, 50.0), (0.95, 50.0)]
    cells[("td", (64, 32, 32))] = [(0.90, 10.0), (0.88, 12.0)]
    flipped = exp.claims(_fake([("cifar10", "resnet32", v, w, r, acc, sec, 1, 100, 1)
                                for (v, w), runs in cells.items() for r, (acc, sec) in enumerate(runs)]), "paper")
    assert flipped.set_index("id").verdict.to_dict() == {
        "bvt-td-on-par": cl.HOLDS, "bvt-tdrev-best": cl.FAILS, "bvt-resnet-gap": cl.FAILS,
        "bvt-resnet-wide": cl.FAILS, "bvt-td-slower": cl.FAILS, "bvt-tdrev-slowest": cl.FAILS}


def test_time_claims_rest_on_the_timing_runs_and_accuracy_claims_on_the_compared_ones():
    def runs(profile, td_acc, td_sec, rev_sec):
        df = _fake([("mnist", "lenetfc", v, None, r, acc, sec, 1, 100, 1)
                    for r in (0, 1) for v, acc, sec in (("bu", 0.99, 10.0), ("td", td_acc, td_sec),
                                                        ("uni", 0.98, 20.0), ("rev", 0.98, rev_sec))])
        return df.assign(profile=profile)

    shown = runs("paper", 0.99, 5.0, 8.0)  # loaded background runs: TD "faster" than BU, TDuni the slowest
    quiet = runs("cpu", 0.90, 30.0, 60.0)  # the reduced grid: TD slower, TDrev the slowest, TD far less accurate
    got = exp.claims(shown, "cpu", timing=quiet).set_index("id")
    assert got.verdict["bvt-td-on-par"] == cl.HOLDS and got.profile["bvt-td-on-par"] == "paper"
    assert got.verdict["bvt-td-slower"] == cl.HOLDS and got.profile["bvt-td-slower"] == "cpu"
    assert got.verdict["bvt-tdrev-slowest"] == cl.HOLDS and "TDrev 6.00x" in got.measured["bvt-tdrev-slowest"]
    alone = exp.claims(shown, "cpu").set_index("id")  # without timing runs, the shown runs' own times
    assert alone.verdict["bvt-td-slower"] == cl.FAILS and alone.verdict["bvt-tdrev-slowest"] == cl.FAILS
    rel = exp.relative(shown, quiet).set_index("label")
    assert rel.d_acc_mean["TD"] == pytest.approx(0.0) and rel.time_ratio_mean["TD"] == pytest.approx(3.0)
    ab = exp.absolute(shown, quiet).set_index("label")
    assert ab.acc_mean["TD"] == pytest.approx(99.0) and ab.seconds_per_epoch["TDrev"] == pytest.approx(60.0)
    assert list(exp.absolute(shown, quiet).columns) == list(exp.absolute(shown).columns)
    # a page mixing profiles: its verdicts rest on both; the paper-scale ones on the paper cells alone
    mixed = pd.concat([shown, quiet.assign(dataset="fashion_mnist")], ignore_index=True)
    both = exp.claims(mixed, "cpu", timing=quiet).set_index("id")
    assert both.verdict["bvt-td-on-par"] == cl.FAILS and both.profile["bvt-td-on-par"] == "cpu/paper"
    assert both.paper_scale_verdict["bvt-td-on-par"] == cl.HOLDS
    assert "in 1 of 1 (dataset, model) cells" in both.paper_scale_measured["bvt-td-on-par"]
    assert both.paper_scale_verdict["bvt-td-slower"] == "", "times never come from the background runs"
    resnet = pd.concat([mixed, _fake([("cifar10", "resnet32", v, None, 0, 0.9, 10.0, 1, 100, 1)
                                      for v in ("bu", "td")]).assign(profile="cpu")], ignore_index=True)
    profiles = exp.claims(resnet, "cpu", timing=quiet).set_index("id").profile
    assert profiles["bvt-resnet-gap"] == "cpu" and profiles["bvt-td-on-par"] == "cpu/paper"
    assert (exp.claims(quiet, "cpu").paper_scale_verdict == "").all()
    lacking = exp.relative(shown, quiet[quiet.variant != "rev"]).set_index("label")
    assert np.isnan(lacking.time_ratio_mean["TDrev"]) and lacking.time_ratio_mean["TDuni"] == pytest.approx(2.0)


def test_timing_spread_compares_the_repeats_of_paper_profile_cells():
    df = _fake([("mnist", "lenetfc", "bu", None, 0, 0.99, 27.5, 1, 100, 1),
                ("mnist", "lenetfc", "bu", None, 1, 0.99, 12.5, 1, 100, 1),
                ("mnist", "lenetfc", "td", None, 0, 0.99, 44.0, 1, 100, 1),
                ("mnist", "lenetfc", "td", None, 1, 0.99, 55.0, 1, 100, 1),
                ("mnist", "lenetfc", "rev", None, 0, 0.99, 200.0, 1, 100, 1)])
    spread = exp.timing_spread(df.assign(profile="paper"))
    assert spread.label.tolist() == ["BU", "TD"]  # TDrev has one repeat
    assert spread.spread.tolist() == pytest.approx([2.2, 1.25]) and spread.repeats.tolist() == [2, 2]
    assert exp.timing_spread(df.assign(profile="cpu")).empty


def test_claims_list_every_claim_once_even_without_runs():
    empty = exp.claims(pd.DataFrame(), "smoke")
    assert empty.id.tolist() == list(exp.CLAIMS) and empty.id.is_unique
    assert (empty.verdict == cl.UNMEASURED).all() and list(empty.columns) == list(cl.COLUMNS)
    assert all(c.chapter == exp.CHAPTER for c in exp.CLAIMS.values())


def _store(cfg, profile, acc, root):
    summary = {"dataset": cfg.dataset, "model": cfg.model, "variant": cfg.variant, "widths": None, "repeat": cfg.seed,
               "epochs": cfg.epochs, "test_acc": acc, "test_loss": 0.1, "val_acc": acc, "seconds_per_epoch": 1.0,
               "params": 1, "device": "cpu"}
    results.store(exp.CHAPTER, exp.EXPERIMENT, cfg.as_dict(), {"summary": summary, "history": [], "curve": []},
                  {"profile": profile}, root)


def test_highest_fidelity_takes_a_group_at_the_paper_profile_only_when_complete(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    cpu = settings("bu-vs-td", "cpu", datasets=["mnist", "fashion_mnist"],
                   models={"mnist": ["lenetfc"], "fashion_mnist": ["lenetfc"]}, variants=["bu", "td"], repeats=1)
    for c in exp.cell_configs(cpu):
        _store(c, "cpu", 0.5, tmp_path)
    paper = {(c.dataset, c.variant, c.seed): c for c in exp.cell_configs(settings("bu-vs-td", "paper"))
             if c.model == "lenetfc"}
    _store(paper[("mnist", "bu", 0)], "paper", 0.99, tmp_path)
    _store(paper[("mnist", "td", 0)], "paper", 0.98, tmp_path)
    _store(paper[("mnist", "bu", 1)], "paper", 0.97, tmp_path)  # repeat 1 lacks its TD: not used
    _store(paper[("fashion_mnist", "bu", 0)], "paper", 0.91, tmp_path)  # F-MNIST lacks its TD: stays cpu
    cpu_entries = [results.lookup(exp.CHAPTER, exp.EXPERIMENT, c.as_dict()) for c in exp.cell_configs(cpu)]
    best = exp.table(exp.highest_fidelity(cpu_entries, cpu))
    got = {(r.dataset, r.variant, r.repeat): (r.profile, r.test_acc) for r in best.itertuples()}
    assert got == {("mnist", "bu", 0): ("paper", 0.99), ("mnist", "td", 0): ("paper", 0.98),
                   ("fashion_mnist", "bu", 0): ("cpu", 0.5), ("fashion_mnist", "td", 0): ("cpu", 0.5)}
    assert "cached at the `paper` profile: mnist lenetfc" in exp.profile_note(best, "cpu")
    claims = exp.claims(best, "cpu")
    assert set(claims[claims.verdict != cl.UNMEASURED].profile) == {"cpu/paper"}
    assert exp.absolute(best).set_index(["dataset", "label"]).profile.to_dict() == {
        ("mnist", "BU"): "paper", ("mnist", "TD"): "paper",
        ("fashion_mnist", "BU"): "cpu", ("fashion_mnist", "TD"): "cpu"}


@pytest.mark.parametrize("variant", ["bu", "td", "uni", "rev"])
def test_committed_paper_networks_still_score_their_cached_accuracy(variant, mnist_available, committed_results):
    """Today's code gives each committed paper-profile MNIST LeNetFC (repeat 0) the test accuracy
    cached when it was trained, to the image. The attacks and Grad-CAM pages load these weights
    into today's networks, so a change of the builder, the layers or the data pipeline that alters
    what a trained network computes would quietly invalidate them; it fails here instead."""
    config = TrainConfig.paper("mnist", "lenetfc", variant)
    path = exp.weights_path(config, committed_results)
    if not path.is_file():
        pytest.skip(f"{path} is not in the repository")
    cached = results.load(path.with_suffix(".json")).result["summary"]["test_acc"]
    data = load_data(config, torch.device("cpu"))
    _, acc = evaluate(load_weights(config, path), data.x_test, data.y_test)
    assert len(data.y_test) == 10_000
    assert round(acc * 10_000) == round(cached * 10_000), f"{variant}: {acc:.4f} now, {cached:.4f} cached"
