"""tdlib.experiments.attacks: the grid of each profile, the claims' verdicts, the ablation summary."""

from __future__ import annotations

import pandas as pd
import pytest

from tdlib.book import claims as cl
from tdlib.book import executor, results
from tdlib.book.chapters import settings
from tdlib.experiments import attacks as exp


def test_profiles_expand_to_the_expected_grids():
    smoke = exp.cell_configs(settings("attacks", "smoke"))
    assert len(smoke) == 2 * 3 and {c["variant"] for c in smoke} == {"bu", "td"}
    assert [c["ablation"] for c in smoke].count(True) == 3  # the TD cells of the ablation model
    cpu = exp.cell_configs(settings("attacks", "cpu"))
    # MNIST-like: 2 models x 2 variants; CIFAR-10 and CIFAR-10-aug: ResNet32 x 4; 10 attacks each
    assert len(cpu) == 10 * (2 * 4 + 2 * 4)
    assert all(c["trained"]["recalibrate_bn"] for c in cpu if c["dataset"].startswith("cifar"))
    assert [c["ablation"] for c in cpu].count(True) == 2 * 10  # NIN-light TD on MNIST and F-MNIST
    paper = exp.cell_configs(settings("attacks", "paper"))
    assert {c["images"] for c in paper} == {10_000} and all(c["repeats"] == 3 for c in paper)
    assert all(c["trained"]["recalibrate_bn"] is False for c in paper)


def _row(dataset, model, variant, attack, area):
    return {"dataset": dataset, "model": model, "variant": variant, "label": {"bu": "BU", "td": "TD"}[variant],
            "attack": attack, "area": area, "profile": "cpu"}


def test_claims_count_cells_where_td_is_below_bu():
    rows = []
    for attack, (bu, td) in {"additive_gaussian": (10, 5), "additive_uniform": (10, 12), "blended_uniform": (8, 2),
                             "spatial": (3, 4), "shifts": (3, 1)}.items():
        rows += [_row("mnist", "lenetfc", "bu", attack, bu), _row("mnist", "lenetfc", "td", attack, td)]
    gaps = exp.family_gaps(pd.DataFrame(rows))
    assert gaps.set_index("attack").area_gap.to_dict() == {"additive_gaussian": -5, "additive_uniform": 2,
                                                             "blended_uniform": -6, "spatial": 1, "shifts": -2}
    claims = exp.claims(pd.DataFrame(rows), None, "cpu")
    assert claims.id.tolist() == list(exp.CLAIMS) and claims.verdict.isin(cl.VERDICTS).all()
    got = claims.set_index("id")
    assert got.verdict.to_dict() == {
        "atk-uncorrelated": cl.HOLDS,  # below BU in 2 of 3 cells: more than half
        "atk-correlated": cl.UNMEASURED, "atk-blurring": cl.UNMEASURED,
        "atk-spatial": cl.HOLDS,  # below BU in 1 of 2: at most half, no extra robustness
        "atk-resnet-spatial": cl.UNMEASURED, "atk-scale-single": cl.UNMEASURED, "atk-scale-pair": cl.UNMEASURED}
    assert "TD's accuracy-loss area below BU's in 2 of 3 (dataset, model, attack) cells" in got.measured[
        "atk-uncorrelated"]
    assert "below BU's in 1 of 2" in got.measured["atk-spatial"]
    assert exp.profile_note("cpu").startswith("*Profile `cpu`") and exp.profile_note("paper") == ""
    # TD more robust to the shifts as well, less to uniform noise: both verdicts flip
    flipped = [r | {"area": 0} if (r["variant"], r["attack"]) in {("td", "spatial"), ("bu", "additive_gaussian")}
               else r for r in rows]
    got = exp.claims(pd.DataFrame(flipped), None, "cpu").set_index("id").verdict
    assert got["atk-uncorrelated"] == cl.FAILS and got["atk-spatial"] == cl.FAILS
    # MNIST at the paper profile beside F-MNIST at cpu: the verdicts on the paper cells alone as well
    paper = [r | {"profile": "paper"} for r in rows] + [r | {"dataset": "fashion_mnist"} for r in flipped]
    got = exp.claims(pd.DataFrame(paper), None, "cpu").set_index("id")
    assert got.profile["atk-uncorrelated"] == "cpu/paper" and "in 3 of 6" in got.measured["atk-uncorrelated"]
    assert got.paper_scale_verdict["atk-uncorrelated"] == cl.HOLDS and "in 2 of 3" in got.paper_scale_measured[
        "atk-uncorrelated"]
    assert got.paper_scale_verdict["atk-correlated"] == ""


def test_claims_list_every_claim_once_even_without_runs():
    empty = exp.claims(pd.DataFrame(), pd.DataFrame(), "smoke")
    assert empty.id.tolist() == list(exp.CLAIMS) and empty.id.is_unique
    assert (empty.verdict == cl.UNMEASURED).all() and list(empty.columns) == list(cl.COLUMNS)
    assert all(c.chapter == exp.CHAPTER for c in exp.CLAIMS.values())


def test_resnet_spatial_claim_counts_tduni_and_tdrev_on_cifar10_aug():
    rows = [{"dataset": "cifar10_aug", "model": "resnet32", "variant": v, "label": lab, "attack": a,
             "area": area, "profile": "cpu"}
            for a, areas in {"spatial": (5, 3, 4), "shifts": (5, 6, 2)}.items()
            for (v, lab), area in zip((("bu", "BU"), ("uni", "TDuni"), ("rev", "TDrev")), areas, strict=True)]
    got = exp.claims(pd.DataFrame(rows), None, "cpu").set_index("id")
    assert got.verdict["atk-resnet-spatial"] == cl.HOLDS and "below BU in 3 of 4" in got.measured["atk-resnet-spatial"]
    rows[1]["area"] = 9  # TDuni on spatial now above BU: 2 of 4 is not more than half
    assert exp.claims(pd.DataFrame(rows), None, "cpu").set_index("id").verdict["atk-resnet-spatial"] == cl.FAILS


def test_most_vulnerable_names_ties():
    abl = pd.DataFrame([{"dataset": "mnist", "model": "nin_light", "attack": "a", "feed": f, "perturbed": p,
                         "accuracy": acc} for f, p, acc in [(0, "clean", 99), (2, "high", 60), (3, "medium", 50),
                                                            (4, "low", 50), (5, "high+medium", 40),
                                                            (6, "high+low", 45), (7, "medium+low", 41)]])
    out = exp.most_vulnerable(abl).iloc[0]
    assert out["worst single"] == "medium / low" and out["worst pair"] == "high+medium" and out["clean"] == 99


def _ablation(dataset, attack, accuracies):
    names = ["single-input, clean", "all clean", "high", "medium", "low", "high+medium", "high+low", "medium+low",
             "high+medium+low"]
    return [{"dataset": dataset, "model": "nin_light", "label": "TD", "attack": attack, "feed": i, "perturbed": n,
             "accuracy": a} for i, (n, a) in enumerate(zip(names, accuracies, strict=True))]


def test_ablation_verdicts_compare_the_most_frequent_worst_input_with_the_paper():
    rows = (_ablation("mnist", "a", [90, 90, 80, 50, 85, 40, 70, 30, 10])  # medium; medium+low
            + _ablation("mnist", "b", [90, 90, 80, 60, 85, 40, 70, 50, 10])  # medium; high+medium
            + _ablation("mnist", "c", [90, 90, 70, 70, 85, 40, 40, 50, 10])  # a tie: no information
            + _ablation("fashion_mnist", "a", [90, 90, 80, 60, 50, 40, 70, 30, 10]))  # low; medium+low
    v = exp.ablation_verdicts(pd.DataFrame(rows)).set_index("dataset")
    assert v.loc["mnist", "ours single"] == "medium" and v.loc["mnist", "single verdict"] == "holds"
    assert v.loc["mnist", "single: ours worst in"] == "2 of 2"
    assert v.loc["fashion_mnist", "single verdict"] == "does not hold"
    assert v.loc["fashion_mnist", "single: paper's worst in"] == "0 of 1"
    got = exp.claims(pd.DataFrame(), pd.DataFrame(rows), "cpu").set_index("id")
    assert got.verdict["atk-scale-single"] == cl.FAILS  # MNIST agrees, Fashion-MNIST does not: 1 of 2
    assert "mnist nin_light: ours medium (worst in 2 of 2 attacks), paper medium" in got.measured["atk-scale-single"]
    mnist = [r for r in rows if r["dataset"] == "mnist"]
    assert exp.claims(pd.DataFrame(), pd.DataFrame(mnist), "cpu").set_index("id").verdict["atk-scale-single"] == \
        cl.HOLDS


def _entry(variant, l2):
    from types import SimpleNamespace

    return SimpleNamespace(config={"dataset": "mnist", "model": "lenetfc", "variant": variant, "attack": "spatial"},
                           result={"l2": l2, "runs": 1, "queries": 10 * len(l2), "seconds": 1.0},
                           provenance={"profile": "cpu"})


def test_whole_curve_area_compares_attacks_whose_l2_exceeds_every_budget():
    found = [_entry("bu", [1.0, 2.0, None, 0.0]), _entry("td", [3.0, 4.0, None, 0.0])]
    df = exp.table(found, {"mnist": (0.5,)}).set_index("variant")
    assert (df.area == 0).all()  # nothing breaks within the small budget
    assert (df.whole_bound == 4.0).all()
    # area up to 4 = sum over successes of (4 - l2) / N samples, in points: BU (3 + 2) / 4, TD (1 + 0) / 4
    assert df.whole_area.tolist() == [125.0, 25.0]
    gaps = exp.family_gaps(df.reset_index())
    assert gaps.area_gap.tolist() == [-100.0] and gaps.family.tolist() == ["spatial"]


def test_a_sharded_cell_is_its_parts_merged_and_resumes_part_by_part(smoke_lenetfc, monkeypatch, mnist_available):
    s = settings("attacks", "smoke", variants={"lenetfc": ["td"]}, attacks=["contrast_reduction"], images=12)
    whole = exp.cell_configs(s)[0]
    sharded = exp.cell_configs({**s, "shard": 5})[0]
    assert "shard" not in whole and sharded["shard"] == 5 and whole["ablation"]
    assert [(p["start"], p["stop"]) for p in exp.parts(sharded)] == [(0, 5), (5, 10), (10, 12)]
    assert exp.parts(whole) == [] and exp.parts({**sharded, "images": 5}) == []

    one = exp.run_cell(whole, "smoke")
    real, calls = exp._attack, []
    monkeypatch.setattr(exp, "_attack", lambda config, *a, **k: (calls.append(a), real(config, *a, **k))[1])
    exp.run_part(exp.parts(sharded)[1], "smoke")  # one part cached first, as by an interrupted run
    merged = exp.run_cell(sharded, "smoke")
    assert len(calls) == 3, "the cached part is not attacked again"
    assert merged.result["parts"] == 3 and len(merged.result["l2"]) == 12
    # contrast reduction is deterministic and per image: the parts give the whole cell's L2s
    assert merged.result["l2"] == pytest.approx(one.result["l2"])
    assert merged.result["queries"] == sum(e.result["queries"] for e in results.entries("attacks")
                                           if e.experiment == exp.PART)
    for a, b in zip(merged.result["ablation"], one.result["ablation"], strict=True):
        assert a["feed"] == b["feed"] and a["accuracy"] == pytest.approx(b["accuracy"])
    keys = [r.key for r in executor.pending("attacks", "smoke", {**s, "shard": 5})[1]]
    assert keys == [], "everything is cached"


def test_the_executor_runs_the_parts_after_the_training_and_before_the_merge(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    s = settings("attacks", "paper", datasets=["mnist"], models={"mnist": ["lenetfc"]},
                 variants={"lenetfc": ["bu"]}, attacks=["contrast_reduction"], images=1_200)
    planned, tasks = executor.pending("attacks", "paper", s)
    assert len(planned) == 1 and s["shard"] == 500
    train, *parts, whole = tasks
    assert train.cell.chapter == "bu-vs-td" and train.needs == ()
    assert [t.cell.experiment for t in parts] == [exp.PART] * 3
    assert all(t.needs == (train.cell.key,) for t in parts), "each part waits for the trained network"
    assert whole.cell == planned[0] and set(whole.needs) == {train.cell.key} | {t.cell.key for t in parts}


def test_the_executor_merges_each_cell_before_it_starts_the_parts_of_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    s = settings("attacks", "paper", datasets=["mnist"], models={"mnist": ["lenetfc"]},
                 variants={"lenetfc": ["bu"]}, attacks=["contrast_reduction", "shifts"], images=1_000)
    planned, tasks = executor.pending("attacks", "paper", s)
    kinds = [t.cell.experiment if t.cell.chapter == "attacks" else "train" for t in tasks]
    assert kinds == ["train", exp.PART, exp.PART, exp.EXPERIMENT, exp.PART, exp.PART, exp.EXPERIMENT]
    assert [t.cell for t in tasks if t.cell.experiment == exp.EXPERIMENT] == planned
    assert len({t.cell.key for t in tasks}) == len(tasks), "the shared trained network is one task"
    # a cell whose parts are all cached is merged first, before any part of the other cell runs
    for t in tasks[1:3]:
        results.store(exp.CHAPTER, exp.PART, t.cell.config, {"l2": [1.0]}, {"profile": "paper"})
    assert [t.cell.experiment for t in executor.pending("attacks", "paper", s)[1]][1:3] == [exp.EXPERIMENT, exp.PART]


def test_paper_progress_counts_merged_cells_and_cached_parts(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    paper = settings("attacks", "paper", datasets=["mnist"], models={"mnist": ["lenetfc"]},
                     attacks=["contrast_reduction", "shifts"], images=1_000)
    page = settings("attacks", "cpu", datasets=["mnist"], models={"mnist": ["lenetfc"]})
    assert exp.paper_progress(page, paper).empty, "nothing cached: no row"
    cells = {(c["variant"], c["attack"]): c for c in exp.cell_configs(paper)}
    results.store(exp.CHAPTER, exp.EXPERIMENT, cells[("bu", "contrast_reduction")], {"l2": []}, {"profile": "paper"})
    results.store(exp.CHAPTER, exp.PART, exp.parts(cells[("bu", "shifts")])[1], {"l2": []}, {"profile": "paper"})
    got = exp.paper_progress(page, paper)
    assert got.to_dict("records") == [{"dataset": "mnist", "model": "lenetfc", "label": "BU", "attacks": 2,
                                       "cached": 1, "images_done": 75.0}]  # 1,000 + 500 of 2,000 images
    assert exp.paper_progress(settings("attacks", "cpu", datasets=["fashion_mnist"]), paper).empty


def test_highest_fidelity_switches_a_network_only_when_all_its_paper_cells_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    cpu = settings("attacks", "cpu", datasets=["mnist", "fashion_mnist"],
                   models={"mnist": ["lenetfc"], "fashion_mnist": ["lenetfc"]},
                   attacks=["contrast_reduction", "shifts"])
    paper = {(c["dataset"], c["variant"], c["attack"]): c for c in exp.cell_configs(settings("attacks", "paper"))
             if c["model"] == "lenetfc"}
    stored = {}
    for c in exp.cell_configs(cpu):
        key = (c["dataset"], c["variant"], c["attack"])
        stored[key] = results.store(exp.CHAPTER, exp.EXPERIMENT, c, {"l2": [1.0]}, {"profile": "cpu"})
        if key != ("fashion_mnist", "td", "shifts"):  # F-MNIST lacks one paper cell: stays cpu as a whole
            results.store(exp.CHAPTER, exp.EXPERIMENT, paper[key], {"l2": [2.0]}, {"profile": "paper"})
    best = exp.highest_fidelity(list(stored.values()), cpu)
    got = {(e.config["dataset"], e.config["variant"], e.config["attack"]): e.provenance["profile"] for e in best}
    assert got == {k: "paper" if k[0] == "mnist" else "cpu" for k in stored}
    df = pd.DataFrame({"dataset": [k[0] for k in got], "model": "lenetfc", "profile": list(got.values())})
    assert "cached at the `paper` profile" in exp.profile_note("cpu", df) and "mnist lenetfc" in exp.profile_note(
        "cpu", df)
    assert exp.highest_fidelity(list(stored.values()), {**cpu, "profile": "paper"}) == list(stored.values())


def test_failure_classes_name_the_class_that_the_failures_share(monkeypatch):
    import torch

    labels = torch.tensor([8, 8, 8, 3, 8, 1])
    monkeypatch.setattr(exp, "test_images", lambda dataset, n: (torch.zeros(n, 1, 2, 2), labels[:n], None))
    found = [_entry("bu", [None, None, 1.0, None, 2.0, 0.5]), _entry("td", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])]
    df = exp.failure_classes(found)
    assert len(df) == 1, "a cell without failures has no row"
    row = df.iloc[0]
    assert (row.label, row.failures, row.top_class) == ("BU", 3, 8)
    assert row.failed == pytest.approx(50.0)
    assert row.top_share == pytest.approx(200 / 3)  # 2 of the 3 failures are 8s
    assert row.top_failed == pytest.approx(50.0)  # 2 of the 4 attacked 8s failed
