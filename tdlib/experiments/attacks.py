"""Experiment 2 (paper §4.2, appendix A.a; Figures 5, 6, 11, 12): adversarial robustness of BU and TD.

Each (dataset, model, variant, attack) cell attacks the trained Exp. 1 network of the
bu-vs-td results cache (repeat 0 of the grid of the profile named by the ``trained_on``
knob) on the first ``images`` test images of a fixed seeded subset, and stores the
per-sample minimal L2 (:func:`tdlib.robustness.minimal_l2`) with a summary in
``data/results/attacks/minimal_l2/<key>.json``. For the TD networks named in ``ablation``
the same computation also feeds the kept adversarials to one pyramid input at a time
(:func:`tdlib.robustness.per_scale_ablation`) and stores that table beside.

With the ``shard`` knob (images per part; the ``paper`` profile's 500), a cell of more images
is computed as parts of that many images, each cached on its own
(``data/results/attacks/minimal_l2_part/``, the cell's configuration with ``start`` and
``stop``; a part's random attacks draw from the seed ``seed + start``), then merged into the
cell's entry: a 10,000-image attack that takes a CPU days resumes part by part, and the
parts of one cell run in parallel on Dask.

A network the bu-vs-td grid of that profile lacks (NINext on CIFAR-10 is not in its
``cpu`` grid) is trained by :func:`tdlib.experiments.bu_vs_td.run_cell` with the reduced
settings of the ``extra_training`` knob and cached in the bu-vs-td chapter, never here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .. import robustness as rb
from ..book import results
from ..book.chapters import Plan, pick
from ..book.chapters import settings as chapter_settings
from ..book.claims import COLUMNS, FAILS, HOLDS, UNMEASURED, Claim, add_paper_scale, ratio_verdict, row
from ..data import load_splits
from ..nets.params import VARIANT_NAMES
from ..train import TrainConfig, base_dataset, load_weights
from . import bu_vs_td

CHAPTER = "attacks"
EXPERIMENT = "minimal_l2"
#: One part of a sharded cell (see the module docstring).
PART = "minimal_l2_part"
#: The attacks drawn in the paper's Figure 5.
FIGURE5_ATTACKS = ("pointwise", "additive_gaussian", "gaussian_blur", "spatial")


def trained_config(dataset: str, model: str, variant: str, s: Mapping[str, Any]) -> TrainConfig:
    """The training run whose repeat-0 weights a cell attacks (see the module docstring)."""
    source = chapter_settings("bu-vs-td", s["trained_on"])
    for c in bu_vs_td.cell_configs(source):
        if (c.dataset, c.model, c.variant, c.seed, c.widths) == (dataset, model, variant, 0, None):
            return c
    extra = pick(pick(s.get("extra_training") or {}, dataset, default={}), model)
    if extra is None:
        raise ValueError(f"{dataset}/{model}/{variant} is not in the bu-vs-td grid of profile {s['trained_on']!r}; "
                         f"add it to the extra_training knob")
    return TrainConfig.paper(dataset, model, variant, seed=0, **extra)


def cell_configs(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every attack run of a chapter's settings, cheap models first."""
    out = []
    for dataset in s["datasets"]:
        for model in pick(s["models"], dataset, default=[]):
            for variant in pick(s["variants"], model, default=["bu", "td"]):
                trained = trained_config(dataset, model, variant, s)
                ablate = variant != "bu" and [dataset, model, variant] in [list(a) for a in s.get("ablation") or []]
                for attack in s["attacks"]:
                    out.append({"dataset": dataset, "model": model, "variant": variant, "attack": attack,
                                "params": rb.get_attack(attack).params() | {"implementation":
                                                                            rb.get_attack(attack).implementation},
                                "images": int(pick(s["images"], model)), "repeats": int(s["repeats"]), "seed": 0,
                                "ablation": ablate, "trained": trained.as_dict()})
                    if s.get("shard"):  # only then in the key: the unsharded cells keep theirs
                        out[-1]["shard"] = int(s["shard"])
    return out


def parts(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The part configurations of a sharded cell, in image order (empty when it is computed whole)."""
    shard, n = config.get("shard"), config["images"]
    if not shard or n <= shard:
        return []
    return [{**config, "start": a, "stop": min(a + shard, n)} for a in range(0, n, shard)]


def figure_model(s: Mapping[str, Any], dataset: str) -> str:
    """The model of a dataset drawn in Figure 5: NIN (NIN-light on MNIST-like sets) when attacked, else the first."""
    models = list(pick(s["models"], dataset, default=[]))
    for preferred in ("nin_light", "nin"):
        if preferred in models:
            return preferred
    return models[0]


def plan(s: Mapping[str, Any]) -> Plan:
    """The (experiment, configuration) pairs, for ``python -m tdlib results``."""
    return [(EXPERIMENT, c) for c in cell_configs(s)]


def test_images(dataset: str, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The first ``n`` images of a seeded test subset, raw in [0, 1], their labels and the training mean."""
    s = load_splits(base_dataset(dataset), seed=0, val_fraction=0.0, train_subset=1, test_subset=n)
    raw = s.x_test + s.mean if s.mean is not None else s.x_test
    return raw.clamp_(0.0, 1.0), s.y_test, s.mean


def load_model(trained: Mapping[str, Any], profile: str, device: str = "cpu") -> torch.nn.Module:
    """The trained network of a cell; trains it through bu-vs-td first when its weights are missing."""
    cfg = TrainConfig(**{**trained, "widths": tuple(trained["widths"]) if trained["widths"] else None})
    path = bu_vs_td.weights_path(cfg)
    if not path.is_file():
        bu_vs_td.run_cell(cfg, profile, device=device, save=True, progress=False)
    return load_weights(cfg, path, device)


def _attack(config: Mapping[str, Any], profile: str, dev: str, progress: bool,
            start: int = 0, stop: int | None = None) -> dict[str, Any]:
    """The result of attacking test images ``start:stop`` of a cell (all by default)."""
    model = load_model(config["trained"], profile, dev)
    x, y, mean = test_images(config["dataset"], config["images"])
    x, y = x[start:stop], y[start:stop]
    t0 = time.perf_counter()
    res = rb.minimal_l2(model, x, y, config["attack"], repeats=config["repeats"], seed=config["seed"] + start,
                        mean=mean, progress=progress)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"l2": [None if math.isinf(v) else v for v in res.l2.tolist()],
                           "runs": res.runs, "queries": res.queries, "seconds": seconds}
    if config["ablation"]:
        out["ablation"] = rb.per_scale_ablation(model, x, res.adversarials, y, mean=mean).to_dict(orient="records")
    return out


def merge(found: Sequence[results.Entry]) -> dict[str, Any]:
    """One cell's result from its parts' entries (in image order): the per-image L2s joined, the queries
    and seconds summed, the ablation accuracies averaged weighted by the parts' images."""
    sizes = [len(e.result["l2"]) for e in found]
    out: dict[str, Any] = {"l2": [v for e in found for v in e.result["l2"]], "runs": found[0].result["runs"],
                           "queries": sum(e.result["queries"] for e in found),
                           "seconds": sum(e.result["seconds"] for e in found), "parts": len(found)}
    if "ablation" in found[0].result:
        rows = [dict(r) for r in found[0].result["ablation"]]
        for r in rows:
            r["accuracy"] = sum(n * next(a["accuracy"] for a in e.result["ablation"] if a["feed"] == r["feed"])
                                for n, e in zip(sizes, found, strict=True)) / sum(sizes)
        out["ablation"] = rows
    return out


def run_part(config: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = False) -> results.Entry:
    """Attack the images ``config["start"]:config["stop"]`` of a sharded cell (cached as :data:`PART`)."""
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return results.cached(CHAPTER, PART, dict(config),
                          lambda: _attack(config, profile, dev, progress, config["start"], config["stop"]),
                          profile=profile, recompute=recompute, device=dev)


def run_cell(config: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = False) -> results.Entry:
    """Attack one trained network with one attack (cached); a sharded cell part by part (:func:`parts`)."""
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pieces = parts(config)
    if not pieces:
        return results.cached(CHAPTER, EXPERIMENT, dict(config), lambda: _attack(config, profile, dev, progress),
                              profile=profile, recompute=recompute, device=dev)
    if not recompute and (hit := results.lookup(CHAPTER, EXPERIMENT, dict(config))) is not None:
        return hit
    found = [run_part(p, profile, recompute=recompute, device=device, progress=progress) for p in pieces]
    return results.cached(CHAPTER, EXPERIMENT, dict(config), lambda: merge(found), profile=profile,
                          recompute=True, device=dev)


def run_grid(s: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> list[results.Entry]:
    """Every cell of the chapter's settings, computing what the cache lacks (resumable)."""
    from tqdm import tqdm

    return [run_cell(c, profile, recompute=recompute, device=device)
            for c in tqdm(cell_configs(s), desc="attacks", disable=not progress)]


def paper_progress(settings: Mapping[str, Any], paper: Mapping[str, Any] | None = None,
                   root: Path | None = None) -> pd.DataFrame:
    """How far the ``paper``-profile attacks of this grid's networks are: per (dataset, model, variant).

    Args:
        settings: This page's settings.
        paper: The paper grid's settings (default the chapter's ``paper`` profile).
        root: The results root.

    Returns:
        Rows ``dataset, model, label, attacks`` (cells of the paper grid), ``cached`` (of them,
        merged and cached) and ``images_done`` (% of their test images covered by cached
        cells and parts); only networks with something cached, empty otherwise.
    """
    cols = ["dataset", "model", "label", "attacks", "cached", "images_done"]
    shown = {(c["dataset"], c["model"], c["variant"]) for c in cell_configs(settings)}
    rows: dict[tuple[str, str, str], dict[str, float]] = {}
    for c in cell_configs(paper if paper is not None else chapter_settings(CHAPTER, "paper")):
        key = (c["dataset"], c["model"], c["variant"])
        if key not in shown:
            continue
        r = rows.setdefault(key, {"attacks": 0, "cached": 0, "images": 0, "done": 0})
        r["attacks"] += 1
        r["images"] += c["images"]
        if results.lookup(CHAPTER, EXPERIMENT, c, root) is not None:
            r["cached"] += 1
            r["done"] += c["images"]
        else:
            r["done"] += sum(p["stop"] - p["start"] for p in parts(c) if results.lookup(CHAPTER, PART, p, root))
    out = pd.DataFrame([{"dataset": d, "model": m, "label": VARIANT_NAMES[v], "attacks": r["attacks"],
                         "cached": r["cached"], "images_done": 100 * r["done"] / r["images"]}
                        for (d, m, v), r in rows.items() if r["done"]], columns=cols)
    return out


def highest_fidelity(entries: list[results.Entry], s: Mapping[str, Any]) -> list[results.Entry]:
    """The grid's entries, with each (dataset, model) group replaced by the ``paper`` profile's cells of the
    same variants and attacks where every one of them is cached (:func:`tdlib.book.results.prefer_complete`):
    BU and TD of one network switch together. Nothing is computed here."""
    if s.get("profile") == "paper" or not entries:
        return entries
    paper = {(c["dataset"], c["model"], c["variant"], c["attack"]): c
             for c in cell_configs(chapter_settings(CHAPTER, "paper"))}

    def candidates(key: Any, group: list[results.Entry]) -> list[list[results.Entry | None]]:
        cells = [(*key, e.config["variant"], e.config["attack"]) for e in group]
        return [[results.lookup(CHAPTER, EXPERIMENT, paper[c]) if c in paper else None for c in cells]]

    return results.prefer_complete(entries, lambda e: (e.config["dataset"], e.config["model"]), candidates)


def l2_of(entry: results.Entry) -> torch.Tensor:
    """The per-sample minimal L2 of an entry (``inf`` for failures)."""
    return torch.tensor([math.inf if v is None else v for v in entry.result["l2"]], dtype=torch.float64)


def table(found: list[results.Entry], budgets: Mapping[str, tuple[float, ...]]) -> pd.DataFrame:
    """One row per cell: the robustness summary (:func:`tdlib.robustness.summarize`) at the dataset's budgets.

    Besides ``area`` (up to the dataset's largest budget, the same for every attack), ``whole_area``
    is the area up to ``whole_bound``: the largest successful L2 of any variant of the same
    (dataset, model, attack), so that BU and TD are compared over their whole curves. (The
    spatial attacks need L2 of about 11 on MNIST: their curves are still 0 at any small budget.)
    """
    rows, l2s = [], []
    for e in found:
        c = e.config
        l2 = l2_of(e)
        l2s.append(l2)
        summary = rb.summarize(l2, tuple(pick(budgets, c["dataset"], default=())))
        rows.append({"dataset": c["dataset"], "model": c["model"], "variant": c["variant"],
                     "label": VARIANT_NAMES[c["variant"]], "attack": c["attack"], "repeats": e.result["runs"],
                     **summary, "queries_per_sample": e.result["queries"] / len(e.result["l2"]),
                     "seconds": e.result["seconds"], "profile": e.provenance.get("profile")})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    finite = [float(v[torch.isfinite(v)].max()) if torch.isfinite(v).any() else 0.0 for v in l2s]
    df["whole_bound"] = pd.Series(finite).groupby([df.dataset, df.model, df.attack]).transform("max")
    df["whole_area"] = [rb.loss_area(v, b) if b > 0 else 0.0 for v, b in zip(l2s, df.whole_bound, strict=True)]
    return df


def failure_classes(found: list[results.Entry]) -> pd.DataFrame:
    """Which true classes an attack fails on: one row per cell with failures (no adversarial found).

    A network that maps every strongly perturbed image to one class cannot be moved off that
    class by noise, so its images of that class count as infinitely robust (the paper-trained BU
    LeNetFC does this on MNIST): ``top_share`` near 100 % shows such a sink.

    Returns:
        Rows ``dataset, model, label, attack, profile, failures`` (images), ``failed`` (% of the
        attacked images), ``top_class`` (the true class most frequent among the failures),
        ``top_share`` (% of the failures in it) and ``top_failed`` (% of that class's attacked
        images that failed).
    """
    cols = ["dataset", "model", "label", "attack", "profile", "failures", "failed", "top_class", "top_share",
            "top_failed"]
    labels: dict[tuple[str, int], torch.Tensor] = {}
    rows = []
    for e in found:
        c, l2 = e.config, l2_of(e)
        failed = torch.isinf(l2)
        if not failed.any():
            continue
        key = (c["dataset"], len(l2))
        if key not in labels:
            labels[key] = test_images(*key)[1]
        y = labels[key]
        counts = torch.bincount(y[failed], minlength=int(y.max()) + 1)
        top = int(counts.argmax())
        rows.append({"dataset": c["dataset"], "model": c["model"], "label": VARIANT_NAMES[c["variant"]],
                     "attack": c["attack"], "profile": e.provenance.get("profile"), "failures": int(failed.sum()),
                     "failed": 100 * float(failed.float().mean()), "top_class": top,
                     "top_share": 100 * float(counts[top]) / int(failed.sum()),
                     "top_failed": 100 * float(counts[top]) / int((y == top).sum())})
    return pd.DataFrame(rows, columns=cols)


def curves(found: list[results.Entry]) -> pd.DataFrame:
    """The accuracy-loss curves of every cell, long format (one row per curve point)."""
    parts = []
    for e in found:
        c = e.config
        curve = rb.accuracy_loss_curve(l2_of(e))
        parts.append(curve.assign(dataset=c["dataset"], model=c["model"], label=VARIANT_NAMES[c["variant"]],
                                  attack=c["attack"], profile=e.provenance.get("profile")))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def ablation_table(found: list[results.Entry]) -> pd.DataFrame:
    """The per-scale ablation of every cell that has one, long format."""
    rows = []
    for e in found:
        if "ablation" in e.result:
            c = e.config
            rows += [{"dataset": c["dataset"], "model": c["model"], "label": VARIANT_NAMES[c["variant"]],
                      "attack": c["attack"], **r} for r in e.result["ablation"]]
    return pd.DataFrame(rows)


def family_gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, TD variant, attack): the TD's loss area minus the BU's (negative: TD more robust).

    The areas are the whole-curve ones (``whole_area`` of :func:`table`) when the table has them.
    """
    area = "whole_area" if "whole_area" in df else "area"
    bu = df[df.variant == "bu"].set_index(["dataset", "model", "attack"])[area]
    td = df[df.variant != "bu"].copy()
    td["area"] = td[area]
    td["bu_area"] = [bu.get((r.dataset, r.model, r.attack), float("nan")) for r in td.itertuples()]
    td["area_gap"] = td.area - td.bu_area
    fam = {a: f for f, attacks in rb.FAMILIES.items() for a in attacks}
    td["family"] = td.attack.map(fam)
    return td[["dataset", "model", "label", "attack", "family", "area", "bu_area", "area_gap", "profile"]]


def most_vulnerable(ablation: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and attack: the single perturbed input and the pair of inputs that cost most accuracy
    (several names joined by " / " when they tie)."""

    def worst(g: pd.DataFrame) -> str | None:
        if g.empty:
            return None
        return " / ".join(g[g.accuracy == g.accuracy.min()].perturbed)

    rows = []
    for (dataset, model, attack), g in ablation.groupby(["dataset", "model", "attack"], sort=False):
        rows.append({"dataset": dataset, "model": model, "attack": attack,
                     "clean": float(g[g.feed == 0].accuracy.iloc[0]),
                     "worst single": worst(g[g.feed.between(2, 4)]), "worst pair": worst(g[g.feed.between(5, 7)])})
    return pd.DataFrame(rows)


#: The paper's most vulnerable inputs (§4.2, Figures 6 and 12): one perturbed input, two perturbed inputs.
PAPER_MOST_VULNERABLE: dict[str, tuple[str, str]] = {
    "mnist": ("medium", "medium+low"),
    "fashion_mnist": ("high", "high+medium"),
    "cifar10": ("high", "high+medium"),
    "cifar10_aug": ("high", "high+medium"),
}


def ablation_verdicts(ablation: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: how often (over attacks) each input, and each pair, was the most vulnerable, beside the paper's.

    An attack whose feeds tie (several inputs cost the same accuracy) counts for none of them;
    attacks that left every feed at the clean accuracy are left out.

    Returns:
        One row per (dataset, model): the paper's worst single input and pair, ours (the most
        frequent), in how many of the informative attacks each of ours and the paper's was worst,
        and the verdict ``holds`` / ``does not hold`` / ``not measured``.
    """
    mv = most_vulnerable(ablation)
    rows = []
    for (dataset, model), g in mv.groupby(["dataset", "model"], sort=False):
        paper_single, paper_pair = PAPER_MOST_VULNERABLE.get(dataset, (None, None))
        row: dict[str, object] = {"dataset": dataset, "model": model}
        for kind, paper in (("single", paper_single), ("pair", paper_pair)):
            worst = g[f"worst {kind}"].dropna()
            worst = worst[~worst.str.contains(" / ")]  # ties carry no information
            counts = worst.value_counts()
            ours = counts.index[0] if len(counts) else None
            row |= {f"paper {kind}": paper, f"ours {kind}": ours,
                    f"{kind}: ours worst in": f"{int(counts.iloc[0]) if len(counts) else 0} of {len(worst)}",
                    f"{kind}: paper's worst in": f"{int(counts.get(paper, 0))} of {len(worst)}",
                    f"{kind} verdict": ("not measured" if ours is None or paper is None
                                        else "holds" if ours == paper else "does not hold")}
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Claims and verdicts
# --------------------------------------------------------------------------------------------

_TABLE, _FIG11, _ABLATION = ("Robustness table", "Figure 11: the ResNet32 filter arrangements",
                             "Figures 6 and 12: which pyramid input is most vulnerable")
#: The attack families of the paper's claims: claim id, family, whether the paper finds TD more robust.
FAMILY_CLAIMS = (("atk-uncorrelated", "uncorrelated noise", True), ("atk-correlated", "correlated noise", True),
                 ("atk-blurring", "blurring", True), ("atk-spatial", "spatial", False))
#: The paper's claims that this chapter tests (experiments.md §10, items 4 to 7).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("atk-uncorrelated", CHAPTER, _TABLE, "paper §4.2, Fig. 5",
          "TD is more robust than BU to uncorrelated noise (additive Gaussian and uniform, blended uniform).",
          "TD more robust"),
    Claim("atk-correlated", CHAPTER, _TABLE, "paper §4.2, Fig. 5",
          "TD is more robust than BU to correlated noise (single pixel, salt and pepper, pointwise).",
          "TD more robust"),
    Claim("atk-blurring", CHAPTER, _TABLE, "paper §4.2, Fig. 5",
          "TD is more robust than BU to blurring (Gaussian blur, contrast reduction).", "TD more robust"),
    Claim("atk-spatial", CHAPTER, _TABLE, "paper §4.2, Fig. 5",
          "TD is not more robust than BU to the spatial attacks (spatial, shifts).", "no extra robustness"),
    Claim("atk-resnet-spatial", CHAPTER, _FIG11, "paper A.a, Fig. 11",
          "On CIFAR-10 with augmentation, ResNet32 TDuni and TDrev are more robust than BU to the spatial attacks.",
          "TDuni and TDrev more robust to spatial attacks, otherwise like BU"),
    Claim("atk-scale-single", CHAPTER, _ABLATION, "paper §4.2, Fig. 6",
          "With one perturbed pyramid input, NIN TD is most vulnerable through the medium-scale input on MNIST "
          "and through the high-scale input on Fashion-MNIST and CIFAR-10.",
          "MNIST: medium; F-MNIST, CIFAR-10: high"),
    Claim("atk-scale-pair", CHAPTER, _ABLATION, "paper A.a, Fig. 12",
          "With two perturbed inputs, high+medium hurts NIN TD most, except on MNIST, where medium+low does.",
          "MNIST: medium+low; otherwise high+medium"),
)}


def profile_note(profile: str, df: pd.DataFrame | None = None) -> str:
    """The line above a reduced profile's verdicts (empty at the paper profile); with the table
    (:func:`table`), it names the networks whose cells come from the ``paper`` profile."""
    if profile == "paper":
        return ""
    at_paper = [] if df is None or df.empty else sorted(
        {f"{d} {m}" for d, m, p in zip(df.dataset, df.model, df.profile, strict=True) if p == "paper"})
    if at_paper:
        return (f"*Profile `{profile}`, except the networks whose attacks are cached at the `paper` profile "
                f"(all 10,000 test images, paper-trained networks): {', '.join(at_paper)}. Verdicts over several "
                "cells mix both; each cell's profile is in the table.*")
    return (f"*Profile `{profile}`: reduced runs (fewer test images; models trained on the reduced bu-vs-td grid). "
            "The verdicts describe these runs, not the paper's setting.*")


def _family_claims(gaps: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """The four family claims and ``atk-resnet-spatial`` from :func:`family_gaps` (majority of cells)."""
    out = {}
    td_only = gaps[gaps.label == "TD"]
    for cid, family, paper_more_robust in FAMILY_CLAIMS:
        g = td_only[td_only.family == family].dropna(subset=["area_gap"])
        if g.empty:
            continue
        wins = int((g.area_gap < 0).sum())
        holds = wins > len(g) / 2 if paper_more_robust else wins <= len(g) / 2
        out[cid] = (HOLDS if holds else FAILS,
                    f"TD's accuracy-loss area below BU's in {wins} of {len(g)} (dataset, model, attack) cells "
                    f"({'more than' if paper_more_robust else 'at most'} half needed); median area gap "
                    f"{g.area_gap.median():+.2f} points x L2")
    spatial = gaps[(gaps.family == "spatial") & gaps.label.isin(["TDuni", "TDrev"])
                   & (gaps.dataset == "cifar10_aug") & (gaps.model == "resnet32")].dropna(subset=["area_gap"])
    if not spatial.empty:
        wins = int((spatial.area_gap < 0).sum())
        out["atk-resnet-spatial"] = (HOLDS if wins > len(spatial) / 2 else FAILS,
                                     f"below BU in {wins} of {len(spatial)} (variant, attack) cells (more than half "
                                     "needed): " + "; ".join(f"{r.label} {r.attack} {r.area_gap:+.2f}"
                                                             for r in spatial.itertuples()))
    return out


def _ablation_claims(ablation: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``atk-scale-single`` and ``atk-scale-pair`` from :func:`ablation_verdicts` (per dataset and model)."""
    if ablation is None or ablation.empty:
        return {}
    v = ablation_verdicts(ablation)
    out = {}
    for cid, kind in (("atk-scale-single", "single"), ("atk-scale-pair", "pair")):
        measured = v[v[f"{kind} verdict"] != "not measured"]
        if measured.empty:
            continue
        hits = int((measured[f"{kind} verdict"] == "holds").sum())
        ours, paper = measured[f"ours {kind}"], measured[f"paper {kind}"]
        ours_n, paper_n = measured[f"{kind}: ours worst in"], measured[f"{kind}: paper's worst in"]
        parts = [f"{d} {m}: ours {o} (worst in {on} attacks), paper {p} (worst in {pn})"
                 for d, m, o, on, p, pn in zip(measured.dataset, measured.model, ours, ours_n, paper, paper_n,
                                               strict=True)]
        what = "input" if kind == "single" else "pair"
        out[cid] = (ratio_verdict(hits, len(measured)), "; ".join(parts) + f"; the paper's {what} the most often "
                    f"worst in {hits} of {len(measured)} (dataset, model) cells")
    return out


def claims(df: pd.DataFrame, ablation: pd.DataFrame | None, profile: str, paper_scale: bool = True) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and the numbers it rests on (``claims.csv`` rows).

    * The family claims: per (dataset, model, attack) of the family, TD's whole-curve
      accuracy-loss area (:func:`family_gaps`) below BU's; ``holds`` when more than half the
      cells are (``atk-spatial``, where the paper finds no extra robustness: at most half).
    * ``atk-resnet-spatial``: the same for ResNet32 TDuni and TDrev on CIFAR-10-aug, spatial family.
    * ``atk-scale-single`` / ``atk-scale-pair``: per (dataset, model) of the ablation, the most
      frequent worst input (pair) over the attacks is the paper's (:func:`ablation_verdicts`);
      ``ratio_verdict`` over the (dataset, model) cells.

    A claim without data is ``not measured at this profile``. ``paper_scale``: also the
    verdicts on the paper-profile rows alone (:func:`tdlib.book.claims.add_paper_scale`; the
    ablation's claims stay blank there).
    """
    found: dict[str, tuple[str, str]] = {}
    if len(df):
        found.update(_family_claims(family_gaps(df)))
    found.update(_ablation_claims(ablation))
    prof = "/".join(sorted(set(df.profile.dropna()))) if len(df) and "profile" in df else profile
    out = pd.DataFrame([row(c, *found[c.id], prof or profile) if c.id in found else row(c, UNMEASURED, "", profile)
                        for c in CLAIMS.values()], columns=list(COLUMNS))
    return add_paper_scale(out, df, lambda rows: claims(rows, None, "paper", False)) if paper_scale else out


# --------------------------------------------------------------------------------------------
# One planned cell, for tdlib.book.executor
# --------------------------------------------------------------------------------------------


def compute(experiment: str, config: Mapping[str, Any], profile: str, device: str | None = None) -> None:
    """Compute one planned cell (an ``(experiment, config)`` pair of :func:`plan`) into the cache unless cached.

    The chapter's cell runner (``Chapter.cell_runner``), called by :func:`tdlib.book.executor.run_cells`
    after the cell's :func:`requires` (the attacked network's training run).
    """
    if experiment == PART:
        run_part(config, profile, device=device)
    elif experiment == EXPERIMENT:
        run_cell(config, profile, device=device)
    else:
        raise ValueError(f"unknown attacks experiment {experiment!r}; expected {EXPERIMENT!r} or {PART!r}")


def requires(experiment: str, config: Mapping[str, Any], profile: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """The cells a cell needs cached first: the bu-vs-td run of the attacked network (its weights), and for
    a sharded cell its parts (which need that run in turn).

    Returns:
        ``(chapter, experiment, config, profile)`` tuples; the profile is the one :func:`load_model`
        would record when it trains the network itself.
    """
    trained = [(bu_vs_td.CHAPTER, bu_vs_td.EXPERIMENT, dict(config["trained"]), profile)]
    if experiment == PART:
        return trained
    return trained + [(CHAPTER, PART, p, profile) for p in parts(config)]
