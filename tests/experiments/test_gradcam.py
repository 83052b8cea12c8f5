"""tdlib.experiments.gradcam: the cells per profile, compact storage, meshes, tables and claims, a tiny run."""

import math

import numpy as np
import pytest
import torch

from tdlib.book import claims as cl
from tdlib.book import results
from tdlib.book.chapters import settings
from tdlib.experiments import bu_vs_td
from tdlib.experiments import gradcam as exp


@pytest.fixture
def empty_root(tmp_path, monkeypatch):
    """An empty results root: no saved weights, so prefer_paper falls back to the trained_on grid."""
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    return tmp_path


def test_profiles_expand_to_the_expected_cells(empty_root):
    smoke = settings("gradcam", "smoke")
    cells = exp.iou_configs(smoke)
    assert [(c["dataset"], c["model"], c["variant"]) for c in cells] == [("mnist", "lenetfc", "bu"),
                                                                           ("mnist", "lenetfc", "td")]
    bu, td = cells
    assert bu["trained_on"] == "smoke" and bu["images"] == 64 and bu["style"] == "original"
    assert bu["trained"] == td["partner"] and td["trained"] == bu["partner"]  # each cell filters on the pair
    assert bu["trained"]["train_subset"] == 256 and bu["trained"]["seed"] == 0
    assert bu["thresholds"] == [0.0, 0.1, 0.2, 0.3, 0.4] and bu["object_threshold"] == 0.2
    assert len(exp.mesh_configs(smoke)) == 1 and len(exp.layer_configs(smoke)) == 1
    assert [e for e, _ in exp.plan(smoke)] == ["iou", "iou", "meshes", "layers"]

    cpu = settings("gradcam", "cpu")
    cells = exp.iou_configs(cpu)
    assert len(cells) == 8 and {c["images"] for c in cells} == {10_000}
    assert {c["trained_on"] for c in cells} == {"cpu"}  # no paper weights in this root
    assert {(c["dataset"], c["model"]) for c in cells} == {(d, m) for d in ("mnist", "fashion_mnist")
                                                           for m in ("lenetfc", "nin_light")}
    layers = exp.layer_configs(cpu)
    assert [(c["dataset"], c["model"]) for c in layers][-1] == ("cifar10", "resnet32")
    assert layers[-1]["trained"]["td"]["widths"] is None  # the plain TD, not the widened one
    assert len(exp.mesh_configs(cpu)) == 4 and exp.mesh_configs(cpu)[0]["meshes"] == 1_000

    paper = settings("gradcam", "paper")
    assert {c["trained"]["epochs"] for c in exp.iou_configs(paper)} >= {30, 50}  # LeNetFC's original epochs
    assert paper["imagenette"]["model"] == "resnet18_light"
    assert exp.plan(cpu)[0] == ("iou", cells[0])


def test_prefer_paper_takes_a_pair_only_when_both_weights_are_saved(empty_root):
    cpu = settings("gradcam", "cpu")
    _, pair = exp.trained_pair("mnist", "lenetfc", {**cpu, "trained_on": "paper"})
    path = bu_vs_td.weights_path(pair["bu"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert exp.trained_pair("mnist", "lenetfc", cpu)[0] == "cpu"  # TD missing: the whole pair stays at cpu
    bu_vs_td.weights_path(pair["td"]).write_bytes(b"")
    source, got = exp.trained_pair("mnist", "lenetfc", cpu)
    assert source == "paper" and got == pair
    assert exp.trained_pair("mnist", "nin_light", cpu)[0] == "cpu"
    assert exp.trained_pair("mnist", "lenetfc", {**cpu, "prefer_paper": False})[0] == "cpu"


def test_further_repeats_are_explained_only_where_both_weights_are_saved(empty_root):
    cpu = settings("gradcam", "cpu")
    assert cpu["repeats"] == 4
    assert len(exp.repeat_pairs("mnist", "lenetfc", cpu)) == 1  # the cpu grid saves repeat 0 only
    for seed in (0, 1, 3):
        for c in exp._grid_pair("mnist", "lenetfc", "paper", seed).values():
            path = bu_vs_td.weights_path(c)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    bu_vs_td.weights_path(exp._grid_pair("mnist", "lenetfc", "paper", 2)["bu"]).write_bytes(b"")  # TD missing
    got = exp.repeat_pairs("mnist", "lenetfc", cpu)
    assert [(src, pair["bu"].seed, pair["td"].seed) for src, pair in got] == [("paper", 0, 0), ("paper", 1, 1),
                                                                              ("paper", 3, 3)]
    cells = [c for c in exp.iou_configs(cpu) if (c["dataset"], c["model"]) == ("mnist", "lenetfc")]
    assert [(c["variant"], c["trained"]["seed"], c["partner"]["seed"]) for c in cells] == [
        ("bu", 0, 0), ("td", 0, 0), ("bu", 1, 1), ("td", 1, 1), ("bu", 3, 3), ("td", 3, 3)]
    assert len(exp.repeat_pairs("mnist", "lenetfc", {**cpu, "repeats": 2})) == 2
    assert len(exp.mesh_configs(cpu)) == 4  # meshes and layer figures: repeat 0 only
    paper = settings("gradcam", "paper")  # trained when missing, as repeat 0 is
    assert len(exp.repeat_pairs("fashion_mnist", "nin_light", paper)) == 4


def test_repeats_are_averaged_with_their_spread():
    def pair(seed, bu, td):
        out = []
        for v, iou in (("bu", bu), ("td", td)):
            e = _iou_entry("mnist", "lenetfc", v, [iou] * 5, [iou, iou], trained_on="paper")
            e.config["trained"]["seed"] = seed
            out.append(e)
        return out

    entries = pair(0, 0.20, 0.21) + pair(1, 0.20, 0.23)
    long = exp.iou_long(entries)
    assert sorted(set(long.repeat)) == [0, 1]
    s = exp.summary(long).set_index("reduce").loc["mean_per_image"]
    assert s.repeats == 2 and s.gap == pytest.approx(2.0) and s.td_higher == 5
    assert s.gap_std == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert exp.gaps(long).gap.tolist() == pytest.approx([2.0] * 10)  # per threshold, the repeats' mean
    energy = exp.energy(entries).iloc[0]
    assert energy.repeats == 2 and energy.BU == pytest.approx(20.0) and energy.TD == pytest.approx(22.0)
    claims = exp.claims(long, exp.energy(entries), exp.mesh_table([]), "paper").set_index("id")
    assert "std 1.41 over 2 repeats" in claims.measured["gradcam-iou-gap"]
    assert len(exp.per_layer(entries)) == 2  # repeat 0's layers


def test_figures_of_networks_a_grid_lacks_are_skipped_and_named(empty_root):
    s = {**settings("gradcam", "smoke"), "layer_figures": [["mnist", "lenetfc", 1], ["cifar10", "resnet32", 1]]}
    assert [c["model"] for c in exp.layer_configs(s)] == ["lenetfc"]
    assert exp.layer_figures_skipped(s) == ["cifar10 resnet32"]
    with pytest.raises(ValueError, match="not in the bu-vs-td grid of profile 'smoke'"):
        exp.iou_configs({**s, "models": {"mnist": ["nin_light"]}})


def test_compact_storage_round_trips():
    maps = torch.rand(2, 3, 5, generator=torch.Generator().manual_seed(0))
    back = exp.decode_u8(exp.encode_u8(maps), (2, 3, 5))
    assert back.dtype == np.float32 and np.abs(back - maps.numpy()).max() <= 0.5 / 255 + 1e-7
    shares = np.array([0.0, 0.12345, 1.0, math.nan, 0.99996])
    got = exp.decode_shares(exp.encode_shares(shares))
    assert np.isnan(got[3]) and np.allclose(got[[0, 1, 2, 4]], [0.0, 0.1234, 1.0, 1.0], atol=1e-4)
    assert len(exp.encode_shares(np.zeros(10_000))) == 4 * math.ceil(20_000 / 3)  # 2 bytes per image, base64


def test_build_meshes_holds_two_objects_of_the_explained_class():
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(40, 1, 4, 4, generator=g) > 0.5).float()
    labels = torch.arange(40) % 5
    meshes, mesh_labels, target, idx = exp.build_meshes(images, labels, 6, seed=3)
    assert meshes.shape == (6, 1, 8, 8) and mesh_labels.shape == (6, 8, 8) and idx.shape == (6, 4)
    for m in range(6):
        classes = labels[idx[m]]
        assert int((classes == target[m]).sum()) == 2 and len(set(idx[m].tolist())) == 4
        assert torch.equal(meshes[m, 0, :4, :4], images[idx[m, 0], 0])  # quadrant 0: top left
        assert torch.equal(meshes[m, 0, 4:, :4], images[idx[m, 1], 0])  # quadrant 1: bottom left
    again = exp.build_meshes(images, labels, 6, seed=3)
    assert torch.equal(again[3], idx) and not torch.equal(exp.build_meshes(images, labels, 6, seed=4)[3], idx)
    with pytest.raises(ValueError, match="two images of one class"):
        exp.build_meshes(images[:3], torch.tensor([0, 0, 0]), 2, seed=0)


def _iou_entry(dataset, model, variant, iou, shares, pooled=None, trained_on="cpu", profile="cpu"):
    config = {"dataset": dataset, "model": model, "variant": variant, "trained_on": trained_on,
              "thresholds": list(exp.THRESHOLDS), "trained": {"epochs": 3, "train_subset": 12_000}}
    result = {"images": 100, "correct": 95, "both_correct": len(shares), "accuracy": 0.95, "layer": "head.unit",
              "layer_resolution": [7, 7] if variant == "bu" else [28, 28], "seconds": 1.0, "images_per_s": 90.0,
              "iou": {"mean_per_image": iou, "pooled": pooled or iou},
              "energy": {"mean": float(np.nanmean(shares)), "median": float(np.nanmedian(shares)),
                         "shares": exp.encode_shares(np.array(shares))},
              "object_share": 0.2,
              "per_layer": [{"layer": "head.unit", "paper": "act_4", "height": 7, "width": 7,
                             "iou_mean_per_image": iou, "energy_mean": float(np.nanmean(shares))}]}
    return results.Entry("gradcam", "iou", config, result, {"profile": profile}, None)


def _mesh_entry(dataset, model, bu, td):
    def stats(on_target, balance):
        return {"on_target": on_target, "on_other": 0.05, "off_object": 0.95 - on_target, "balance": balance,
                "found": 0.9, "both_found": 0.8, "predicts_target": 0.7, "seconds": 1.0}
    result = {"meshes": 10, "pool": 90, "uniform_on_target": 0.1, "td_more_on_target": 0.6, "td_more_balanced": None,
              "variants": {"bu": stats(*bu), "td": stats(*td)}}
    return results.Entry("gradcam", "meshes", {"dataset": dataset, "model": model}, result, {"profile": "cpu"}, None)


def test_tables_and_claims_on_hand_made_entries():
    entries = [_iou_entry("mnist", "nin_light", "bu", [0.25, 0.25, 0.25, 0.24, 0.23], [0.3, 0.4, 0.5, math.nan]),
               _iou_entry("mnist", "nin_light", "td", [0.28, 0.28, 0.27, 0.27, 0.26], [0.5, 0.3, 0.6, 0.2]),
               _iou_entry("mnist", "lenetfc", "bu", [0.20, 0.20, 0.20, 0.20, 0.20], [0.3, 0.3], trained_on="paper"),
               _iou_entry("mnist", "lenetfc", "td", [0.21, 0.19, 0.21, 0.21, 0.21], [0.2, 0.2], trained_on="paper")]
    long = exp.iou_long(entries)
    assert len(long) == 4 * 2 * 5 and long.iou.max() == pytest.approx(28.0)
    per_thr = exp.gaps(long)
    row = per_thr[(per_thr.model == "nin_light") & (per_thr.reduce == "pooled") & (per_thr.threshold == 0.0)].iloc[0]
    assert row.gap == pytest.approx(3.0) and row.relative == pytest.approx(12.0)
    s = exp.summary(long).set_index(["model", "reduce"])
    nin = s.loc[("nin_light", "mean_per_image")]
    assert nin.td_higher == 5 and nin.thresholds == 5 and nin.gap == pytest.approx(2.8)
    assert nin.paper_gap == 2.6 and nin.paper_relative == 10.0 and nin.both_correct == 4
    lenet = s.loc[("lenetfc", "mean_per_image")]
    assert lenet.td_higher == 4 and lenet.gap_min == pytest.approx(-1.0) and lenet.paper_gap == 0.38
    assert lenet.trained_on == "paper"

    energy = exp.energy(entries).set_index("model")
    assert energy.BU["nin_light"] == pytest.approx(40.0) and energy.TD["nin_light"] == pytest.approx(40.0)
    assert energy.td_above["nin_light"] == pytest.approx(100 * 2 / 3)  # the NaN image is left out of the pairing
    assert energy.td_above["lenetfc"] == 0.0 and energy.uniform["lenetfc"] == pytest.approx(20.0)
    assert len(exp.per_layer(entries)) == 4 and "iou@0.2" in exp.per_layer(entries)

    meshes = exp.mesh_table([_mesh_entry("mnist", "nin_light", (0.30, 0.70), (0.40, 0.80)),
                             _mesh_entry("mnist", "lenetfc", (0.30, 0.70), (0.20, 0.71))])
    assert meshes.on_target.tolist() == pytest.approx([30.0, 40.0, 30.0, 20.0]) and meshes.td_more_balanced.isna().all()

    assert "`cpu`: NIN mnist; `paper`: LeNetFC mnist" in exp.profile_note(long, "cpu")
    claims = exp.claims(long, exp.energy(entries), meshes, "cpu", imagenette_note="skipped here")
    assert claims.id.tolist() == list(exp.CLAIMS) and claims.verdict.isin(cl.VERDICTS).all()
    got = claims.set_index("id")
    assert got.verdict.to_dict() == {
        "gradcam-iou-higher": cl.FAILS,  # NIN at every threshold in both readings, LeNetFC in neither: 2 of 4
        "gradcam-iou-gap": cl.HOLDS, "gradcam-nin-larger": cl.HOLDS,
        "gradcam-energy": cl.FAILS,  # equal for NIN, lower for LeNetFC
        "gradcam-several-objects": cl.FAILS,  # more on target in 1 of 2 cells, more balanced in 1 of 2: 2 of 4
        "gradcam-imagenette-acc": cl.UNMEASURED}
    measured = got.measured
    assert "`mean_per_image`: every threshold in 1 of 2 (NIN mnist 5 of 5; LeNetFC mnist 4 of 5)" in measured[
        "gradcam-iou-higher"]
    assert ("NIN mnist +2.80 points (+11.5 %) vs the paper's +2.6 (~10 %): same direction, 1.1x its size"
            in measured["gradcam-iou-gap"])
    assert "TD puts more mass on them in 1 of 2 cells" in measured["gradcam-several-objects"]
    assert ("more evenly between them (balance higher by more than 0.02) in 1 of 2, about as evenly as BU in 1"
            in measured["gradcam-several-objects"])
    assert measured["gradcam-imagenette-acc"] == "skipped here"
    # the LeNetFC networks were trained at the paper profile: the IoU verdicts again, on them alone
    assert got.paper_scale_verdict["gradcam-iou-higher"] == cl.FAILS  # LeNetFC in neither reading
    assert "LeNetFC mnist" in got.paper_scale_measured["gradcam-iou-gap"]
    assert "NIN" not in got.paper_scale_measured["gradcam-iou-gap"]
    assert got.paper_scale_verdict["gradcam-energy"] == "" and got.paper_scale_verdict["gradcam-nin-larger"] == ""
    worse = exp.iou_long([_iou_entry("mnist", "nin_light", "bu", [0.3] * 5, [0.5], profile="paper",
                                     trained_on="paper"),
                          _iou_entry("mnist", "nin_light", "td", [0.2] * 5, [0.4], profile="paper",
                                     trained_on="paper")])
    assert exp.profile_note(worse, "paper") == ""
    flipped = exp.claims(worse, exp.energy([]), exp.mesh_table([]), "paper",
                         imagenette={"BU": 90.0, "TD": 85.0}).set_index("id")
    assert flipped.verdict["gradcam-iou-higher"] == cl.FAILS and flipped.verdict["gradcam-iou-gap"] == cl.FAILS
    assert "opposite direction" in flipped.measured["gradcam-iou-gap"]
    assert flipped.verdict["gradcam-nin-larger"] == cl.UNMEASURED  # no LeNetFC
    assert flipped.verdict["gradcam-imagenette-acc"] == cl.HOLDS and "+5.00 points" in flipped.measured[
        "gradcam-imagenette-acc"]
    assert set(flipped.profile) == {"paper"}


def test_claims_list_every_claim_once_even_without_cells():
    empty = exp.claims(exp.iou_long([]), exp.energy([]), exp.mesh_table([]), "smoke")
    assert empty.id.tolist() == list(exp.CLAIMS) and empty.id.is_unique
    assert (empty.verdict == cl.UNMEASURED).all() and list(empty.columns) == list(cl.COLUMNS)
    assert all(c.chapter == exp.CHAPTER for c in exp.CLAIMS.values())
    assert exp.imagenette_note({"profile": "cpu", "imagenette": None}).startswith("not at the `cpu` profile")


def test_compute_layers_keeps_every_layer_of_both_networks_on_colour_images(monkeypatch):
    from tdlib import get_model

    torch.manual_seed(0)
    models = {v: get_model("resnet32", v).eval() for v in ("bu", "td")}
    x = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mean = torch.full((3, 32, 32), 0.5)
    y = torch.arange(6)
    seen = []

    def both_correct(nets, images, labels, m):  # untrained networks: pretend images 1, 3 and 4 qualify
        seen.append(m)
        return torch.tensor([False, True, False, True, True, False])

    monkeypatch.setattr(exp, "_both_correct", both_correct)
    out = exp.compute_layers({"images": 2, "style": "original"}, "cpu", (x, y, mean), models)
    assert out["indices"] == [1, 3] and out["labels"] == [1, 3] and out["shape"] == [3, 32, 32]
    assert seen[0] is mean
    decoded = exp.decode_layers(results.Entry("gradcam", "layers", {}, out, {}, None))
    from tdlib.explain import layers

    for label, v in (("BU", "bu"), ("TD", "td")):
        lays = decoded["variants"][label]
        assert [lay[0] for lay in lays] == [lay.name for lay in layers(models[v])]
        assert all(lay[3].shape == (len(out["indices"]), 32, 32) for lay in lays)
        assert all(0.0 <= lay[3].min() and lay[3].max() <= 1.0 for lay in lays)
    assert decoded["images"].shape == (len(out["indices"]), 3, 32, 32)


def test_imagenette_says_why_it_is_skipped(empty_root, monkeypatch):
    assert "only at the `paper` profile" in exp.imagenette_status(settings("gradcam", "cpu"))
    assert exp.imagenette_layers(settings("gradcam", "smoke"), "smoke") is None
    paper = settings("gradcam", "paper")
    assert "no trained ResNet18-light" in exp.imagenette_status(paper)
    for v in ("bu", "td"):
        path = exp.imagenette_weights_path("resnet18_light", v)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    from tdlib import data

    def missing(*args, **kwargs):
        raise data.DatasetNotFoundError("dataset 'imagenette' (test split) not found. Tried: nothing")

    monkeypatch.setattr(data, "load_arrays", missing)
    assert exp.imagenette_status(paper).startswith("Imagenette could not be loaded (dataset 'imagenette'")


@pytest.fixture
def smoke_weights(smoke_lenetfc):
    """The committed smoke LeNetFC BU and TD in an empty root: the networks of the smoke profile."""
    assert smoke_lenetfc == exp.trained_pair("mnist", "lenetfc", settings("gradcam", "smoke"))[1]
    return smoke_lenetfc


def test_a_weightless_cached_run_is_an_error_not_a_silent_retrain(smoke_weights):
    bu_vs_td.weights_path(smoke_weights["bu"]).unlink()
    with pytest.raises(FileNotFoundError, match="cached without its weights"):
        exp.load_model(smoke_weights["bu"].as_dict(), "smoke")


def test_tiny_run_goes_through_the_cache(smoke_weights, mnist_available, monkeypatch):
    s = {**settings("gradcam", "smoke"), "images": 48, "meshes": 3, "mesh_examples": 1,
         "layer_figures": [["mnist", "lenetfc", 1]], "layer_search": 48}
    found = exp.run_grid(s, "smoke", progress=False)
    assert {k: len(v) for k, v in found.items()} == {"iou": 2, "meshes": 1, "layers": 1}
    assert len(results.entries("gradcam")) == 4
    bu, td = (e.result for e in found["iou"])
    assert bu["images"] == td["images"] == 48 and bu["both_correct"] == td["both_correct"] > 0
    assert bu["layer"] == td["layer"] == "head.unit" and bu["layer_resolution"] == [7, 7]
    assert td["layer_resolution"] == [28, 28]
    for r in (bu, td):
        assert all(0.0 <= v <= 1.0 for reduce in exp.REDUCES for v in r["iou"][reduce])
        assert len(exp.decode_shares(r["energy"]["shares"])) == r["both_correct"]
        assert r["per_layer"][-1]["iou_mean_per_image"] == pytest.approx(r["iou"]["mean_per_image"])
    assert [lay["layer"] for lay in td["per_layer"]][0] == "steps.0.units.0"  # coarse to fine
    mesh = found["meshes"][0].result
    assert mesh["meshes"] == 3 and set(mesh["variants"]) == {"bu", "td"}
    for v in mesh["variants"].values():
        assert v["on_target"] + v["on_other"] + v["off_object"] == pytest.approx(1.0)
    ex = exp.decode_mesh_examples(found["meshes"][0])
    assert ex["meshes"].shape == (1, 56, 56) and ex["heatmaps"]["TD"].shape == (1, 56, 56)
    lay = exp.decode_layers(found["layers"][0])
    assert lay["images"].shape == (1, 1, 28, 28) and len(lay["variants"]["TD"]) == 10

    for name in ("compute_iou", "compute_meshes", "compute_layers"):
        monkeypatch.setattr(exp, name, lambda *a, **k: pytest.fail("a cached cell is computed again"))
    again = exp.run_grid(s, "smoke", progress=False)
    assert [e.path for e in again["iou"]] == [e.path for e in found["iou"]]
    long = exp.iou_long(again["iou"])
    assert len(long) == 2 * 2 * 5 and set(long.label) == {"BU", "TD"}
    assert exp.summary(long).both_correct.iloc[0] == bu["both_correct"]
