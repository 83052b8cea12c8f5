"""tdlib.experiments.attacks: the grid of each profile, the claims' verdicts, the ablation summary."""

from __future__ import annotations

import pandas as pd

from tdlib.book import claims as cl
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
