"""The thesis downscale study (§3.2.1, Figures 3.3-3.5) and the toy 2-D cosine set (§3.2.2).

Every image is blurred with a Gaussian of sigma 0, 0.6, 1.2, 2.4, ... (each level from the
original image, same size, zero padding: :func:`tdlib.pyramid.blur_levels`). A network is
trained on one level (``TrainConfig.blur_sigma``) and tested on every level without
retraining (:func:`tdlib.train.evaluate_blur_levels`), which fills one row of a
train x test accuracy matrix. Each (dataset, model, variant, train sigma, repeat) cell is one
:func:`tdlib.train.train` run with the Exp. 1 recipe (the thesis: "identical to ... BUvsTD"),
cached on its own (``data/results/downscale/train/<key>.json``); its entry holds the whole
row (test loss, accuracy and the predicted-class counts at every test sigma), so no weights
are needed later and a rerun on a warm cache only loads.

A grid is described by a chapter's settings (``tdlib.book.chapters``): ``datasets``,
``models`` (per dataset), ``variants``, ``levels`` and ``sigma0`` (the sigmas
:func:`tdlib.pyramid.blur_sigmas`), ``repeats``, ``epochs`` (``None``: the original),
``train_subset``, ``test_subset`` and ``recalibrate_bn``. Per-cell settings may be given
once, or as a dict keyed by ``"dataset/model"``, by dataset or by model (first match wins).

The thesis's claims and how a verdict is computed from the matrices are in :func:`claims`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..book import results
from ..book.chapters import Plan, pick
from ..book.claims import COLUMNS, UNMEASURED, Claim, ratio_verdict, row
from ..book.layout import DATASET_NAMES, MODEL_NAMES, VARIANT_NAMES, network_name
from ..data import load_arrays
from ..pyramid import blur, blur_sigmas
from ..train import TrainConfig, base_dataset, evaluate_blur_levels, image_counts, train

CHAPTER = "downscale"
EXPERIMENT = "train"
#: The toy 2-D cosine set (thesis §3.2.2) and its DC class.
TOY = "toy_cosines"
DC_CLASS = 0
#: Data sets in order of difficulty (the thesis: the loss grows "with the data set's difficulty").
DIFFICULTY = ("mnist", "fashion_mnist", "cifar10", "cifar10_aug")

#: The thesis's CIFAR-10 numbers (§3.2.1): accuracy at sigma 0 and the loss at the largest sigma, points.
THESIS_CIFAR = {"resnet32": (87.7, 10.0), "nin": (89.4, 15.0)}
#: A matched-scale loss up to this many points counts as "little" (our threshold; the thesis gives none).
LITTLE_LOSS = 2.0
#: |TD - BU| up to this many points (mean over a toy matrix) counts as "no major difference" (ours).
NO_MAJOR_DIFFERENCE = 2.0


def _pick(value: Any, dataset: str, model: str, default: Any = None) -> Any:
    """A setting given once or per ``"dataset/model"``, dataset or model (first match wins)."""
    return pick(value, f"{dataset}/{model}", dataset, model, default=default)


def sigmas(settings: Mapping[str, Any]) -> tuple[float, ...]:
    """The grid's blur sigmas, the original (0) first: training and test levels alike."""
    return blur_sigmas(int(settings["levels"]), float(settings.get("sigma0", 0.6)))


def cell_configs(settings: Mapping[str, Any]) -> list[TrainConfig]:
    """Every training run of a grid: per dataset and model, repeat by repeat, variant by train sigma."""
    configs = []
    levels = sigmas(settings)
    for dataset in settings["datasets"]:
        for model in _pick(settings["models"], dataset, model="", default=[]):
            for repeat in range(int(_pick(settings.get("repeats"), dataset, model, 1))):
                for variant in settings["variants"]:
                    for sigma in levels:
                        over: dict[str, Any] = {
                            "seed": repeat, "blur_sigma": sigma,
                            "train_subset": _pick(settings.get("train_subset"), dataset, model),
                            "test_subset": _pick(settings.get("test_subset"), dataset, model),
                            "recalibrate_bn": bool(settings.get("recalibrate_bn", False))}
                        epochs = _pick(settings.get("epochs"), dataset, model)
                        if epochs is not None:
                            over["epochs"] = int(epochs)
                        configs.append(TrainConfig.paper(dataset, model, variant, **over))
    return configs


def cache_config(config: TrainConfig, test_sigmas: Sequence[float]) -> dict[str, Any]:
    """The results-cache configuration of a cell: the training run and the test sigmas of its row."""
    return {**config.as_dict(), "test_sigmas": [float(s) for s in test_sigmas]}  # blur_sigma 0 is keyless


def plan(settings: Mapping[str, Any]) -> Plan:
    """The (experiment, configuration) pairs of a grid, for ``python -m tdlib results``."""
    levels = sigmas(settings)
    return [(EXPERIMENT, cache_config(c, levels)) for c in cell_configs(settings)]


def run_cell(config: TrainConfig, test_sigmas: Sequence[float], profile: str, *, recompute: bool = False,
             device: str | None = None, progress: bool = True) -> results.Entry:
    """Train one cell on its blur level unless cached, then test it on every level of ``test_sigmas``.

    The run is checkpointed beside its entry (``<key>.ckpt``: every epoch, and every 10
    minutes within one), so a long run killed midway resumes from there.
    """
    key = cache_config(config, test_sigmas)

    def compute() -> dict[str, Any]:
        ckpt = results.entry_path(CHAPTER, EXPERIMENT, key).with_suffix(".ckpt")
        res = train(config, device=device, progress=progress, checkpoint=ckpt, stop=results.StopRequest())
        row = evaluate_blur_levels(res.model, config, test_sigmas)
        return {"summary": res.summary(), "history": res.history.to_dict(orient="records"),
                "tests": row.to_dict(orient="records")}

    return results.cached(CHAPTER, EXPERIMENT, key, compute, profile=profile, recompute=recompute, device=device)


def run_grid(settings: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> list[results.Entry]:
    """Every cell of a grid, computing what the cache lacks (resumable)."""
    from tqdm import tqdm

    levels = sigmas(settings)
    return [run_cell(c, levels, profile, recompute=recompute, device=device, progress=progress)
            for c in tqdm(cell_configs(settings), desc="downscale grid", disable=not progress)]


def grid_table(settings: Mapping[str, Any]) -> pd.DataFrame:
    """What a grid trains, one row per (dataset, model): variants, sigmas, repeats, epochs, images."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cell_configs(settings):
        train_images, test_images = image_counts(c.dataset, c.train_subset, c.test_subset, c.val_fraction)
        row = rows.setdefault((c.dataset, c.model), {
            "dataset": DATASET_NAMES.get(c.dataset, c.dataset), "model": MODEL_NAMES.get(c.model, c.model),
            "variants": [], "train_sigmas": [], "repeats": 0, "epochs": {},
            "train_images": train_images,
            "test_images": test_images})
        row["variants"] = list(dict.fromkeys([*row["variants"], VARIANT_NAMES.get(c.variant, c.variant)]))
        row["train_sigmas"] = sorted(set(row["train_sigmas"]) | {c.blur_sigma})
        row["repeats"] = max(row["repeats"], c.seed + 1)
        row["epochs"][VARIANT_NAMES.get(c.variant, c.variant)] = c.epochs
    out = pd.DataFrame(rows.values())
    if len(out):
        out["variants"] = out.variants.map(", ".join)
        out["train_sigmas"] = out.train_sigmas.map(lambda v: ", ".join(f"{x:g}" for x in v))
        out["epochs"] = out.epochs.map(lambda e: ", ".join(f"{k} {v}" for k, v in e.items()) if len(set(e.values())) > 1
                                       else str(next(iter(e.values()))))
    return out


def example_levels(datasets: Sequence[str], levels: Sequence[float]) -> dict[str, list[Tensor]]:
    """One test image of each data set at every blur level (Figure 3.3): name -> ``(C, H, W)`` in [0, 1].

    The first test image, except on the toy set, where it is the first of class 3 (4 cycles per
    image; its first test image is a constant of class 0).
    """
    out = {}
    for d in dict.fromkeys(base_dataset(d) for d in datasets):
        x, y = load_arrays(d, False)
        index = int(np.flatnonzero(np.asarray(y) == 3)[0]) if d == TOY else 0
        img = torch.from_numpy(np.ascontiguousarray(x[index])).permute(2, 0, 1)[None].float() / 255
        out[DATASET_NAMES.get(d, d)] = [blur(img, s)[0] for s in levels]
    return out


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def table(entries: Sequence[results.Entry]) -> pd.DataFrame:
    """One row per (cell, test sigma): accuracy (%) and loss, the predicted-class shares, the cell's profile.

    Columns: ``dataset, model, variant, repeat, train_sigma, test_sigma, acc, loss, pred_share``
    (a list: the share of test images predicted as each class), ``seconds_per_epoch``,
    ``epochs``, ``train_subset``, ``profile``.
    """
    rows = []
    for e in entries:
        c, s = e.config, e.result["summary"]
        for t in e.result["tests"]:
            counts = np.asarray(t["pred_counts"], dtype=float)
            rows.append({"dataset": c["dataset"], "model": c["model"], "variant": c["variant"], "repeat": c["seed"],
                         "train_sigma": float(c.get("blur_sigma", 0.0)), "test_sigma": float(t["test_sigma"]),
                         "acc": 100 * float(t["test_acc"]), "loss": float(t["test_loss"]),
                         "pred_share": list(counts / counts.sum()), "seconds_per_epoch": s["seconds_per_epoch"],
                         "epochs": c["epochs"], "train_subset": c.get("train_subset"),
                         "profile": e.provenance["profile"]})
    return pd.DataFrame(rows)


_CELL = ["dataset", "model", "variant"]


def matrix(df: pd.DataFrame, dataset: str, model: str, variant: str) -> pd.DataFrame:
    """The train x test accuracy matrix (%) of one network, mean over repeats (rows: train sigma)."""
    sub = df[(df.dataset == dataset) & (df.model == model) & (df.variant == variant)]
    return sub.pivot_table(index="train_sigma", columns="test_sigma", values="acc", aggfunc="mean")


def matched(df: pd.DataFrame) -> pd.DataFrame:
    """Matched train/test sigma (Figure 3.4): mean and std (ddof 1) over repeats, and the loss from sigma 0."""
    diag = df[np.isclose(df.train_sigma, df.test_sigma)]
    out = (diag.groupby(_CELL + ["train_sigma"], sort=False).acc.agg(["mean", "std", "count"]).reset_index()
           .rename(columns={"train_sigma": "sigma", "mean": "acc", "std": "acc_std", "count": "repeats"}))
    base = out[out.sigma == 0].set_index(_CELL).acc
    out["loss_from_original"] = [base.get(tuple(r), np.nan) - a
                                 for r, a in zip(out[_CELL].values, out.acc, strict=True)]
    return out


def _per_repeat(df: pd.DataFrame) -> pd.DataFrame:
    """Per network and repeat: the mean accuracy of the matrix's diagonal, lower and upper triangle."""
    d = df.assign(part=np.select([np.isclose(df.train_sigma, df.test_sigma), df.train_sigma > df.test_sigma],
                                 ["matched", "blurred_to_sharp"], "sharp_to_blurred"))
    return d.pivot_table(index=_CELL + ["repeat"], columns="part", values="acc", aggfunc="mean").reset_index()


def asymmetry(df: pd.DataFrame) -> pd.DataFrame:
    """Cross-scale generalisation per network: the mean accuracy (%) trained blurred / tested sharper
    (train sigma > test sigma, the thesis's "trained on low, tested on higher scale") against trained
    sharp / tested blurrier (train sigma < test sigma), means over repeats."""
    per = _per_repeat(df)
    out = per.groupby(_CELL, sort=False)[["matched", "blurred_to_sharp", "sharp_to_blurred"]].mean().reset_index()
    out["gap"] = out.sharp_to_blurred - out.blurred_to_sharp
    return out


def mismatch(df: pd.DataFrame) -> pd.DataFrame:
    """TD - BU under a train/test mismatch: per (dataset, model), the mean over the off-diagonal cells
    of TD's accuracy minus BU's, in points, with its spread (std over repeats; NaN with one repeat),
    and the same on the diagonal for comparison."""
    per = _per_repeat(df)
    per["mismatch"] = (per.blurred_to_sharp + per.sharp_to_blurred) / 2
    rows = []
    for (dataset, model), g in per.groupby(["dataset", "model"], sort=False):
        bu, td = g[g.variant == "bu"].set_index("repeat"), g[g.variant == "td"].set_index("repeat")
        common = bu.index.intersection(td.index)
        if common.empty:
            continue
        diff = td.loc[common, "mismatch"] - bu.loc[common, "mismatch"]
        diag = td.loc[common, "matched"] - bu.loc[common, "matched"]
        off = df[(df.dataset == dataset) & (df.model == model) & ~np.isclose(df.train_sigma, df.test_sigma)]
        wide = off.pivot_table(index=["repeat", "train_sigma", "test_sigma"], columns="variant", values="acc")
        cells = (wide.td - wide.bu).groupby(level=["train_sigma", "test_sigma"]).mean() if "td" in wide else None
        rows.append({"dataset": dataset, "model": model, "repeats": len(common),
                     "bu_mismatch": bu.loc[common, "mismatch"].mean(), "td_mismatch": td.loc[common, "mismatch"].mean(),
                     "td_minus_bu": diff.mean(), "spread": diff.std(ddof=1) if len(common) > 1 else np.nan,
                     "td_better_cells": int((cells > 0).sum()) if cells is not None else 0,
                     "off_cells": int(cells.notna().sum()) if cells is not None else 0,
                     "td_minus_bu_matched": diag.mean()})
    return pd.DataFrame(rows)


def drift(df: pd.DataFrame, dataset: str = TOY, cls: int = DC_CLASS) -> pd.DataFrame:
    """The share (%) of test images predicted as class ``cls`` by test sigma, per variant and train sigma."""
    sub = df[df.dataset == dataset]
    out = sub.assign(share=[100 * s[cls] for s in sub.pred_share])
    return out.groupby(["model", "variant", "train_sigma", "test_sigma"], sort=False).share.mean().reset_index()


def prediction_shares(df: pd.DataFrame, dataset: str = TOY, train_sigma: float = 0.0) -> pd.DataFrame:
    """Predicted-class shares (%) by test sigma of the networks trained at ``train_sigma`` (long form)."""
    sub = df[(df.dataset == dataset) & np.isclose(df.train_sigma, train_sigma)]
    rows = [{"model": r.model, "variant": r.variant, "repeat": r.repeat, "test_sigma": r.test_sigma,
             "predicted": k, "share": 100 * s}
            for r in sub.itertuples() for k, s in enumerate(r.pred_share)]
    long = pd.DataFrame(rows)
    return long.groupby(["model", "variant", "test_sigma", "predicted"], sort=False).share.mean().reset_index()


# --------------------------------------------------------------------------------------------
# Claims and verdicts
# --------------------------------------------------------------------------------------------

_MATRICES, _TOY = "Figure 3.5: the whole train × test matrices", "The toy cosine set"
#: The thesis's claims that this chapter tests (experiments.md §10, items 11 and 12).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("downscale-matched", CHAPTER, "Figure 3.4: matched train and test scales", "thesis §3.2.1, Fig. 3.4",
          "At matched train/test scales the loss of accuracy is small and grows with sigma.",
          "only minimal loss, growing higher for increased sigma"),
    Claim("downscale-difficulty", CHAPTER, "Figure 3.4: matched train and test scales", "thesis §3.2.1, Fig. 3.4",
          "The matched-scale loss grows with the data set's difficulty.",
          "higher for F-MNIST and especially CIFAR-10: ResNet ~10 points from 87.7 %, NIN ~15 from 89.4 %"),
    Claim("downscale-asymmetry", CHAPTER, _MATRICES, "thesis §3.2.1, Fig. 3.5",
          "Cross-scale generalisation is hard and asymmetric: trained blurred, tested sharper is worse than the "
          "reverse.", "lower when trained on low and tested on a higher scale than vice versa"),
    Claim("downscale-td-mismatch", CHAPTER, _MATRICES, "thesis §3.2.1",
          "TD networks beat BU under a train/test scale mismatch.",
          "enhanced performance compared to the BU baselines when there was a mismatch"),
    Claim("toy-bu-td", CHAPTER, _TOY, "thesis §3.2.2", "On the toy cosine set BU and TD show no major difference.",
          "didn't reveal any major differences between the networks"),
    Claim("toy-drift", CHAPTER, _TOY, "thesis §3.2.2", "With more blur, predictions drift to the DC class (class 0).",
          "predictions gradually moving to the DC class with more blurring"),
)}



def _matched_claims(m: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``downscale-matched`` and ``downscale-difficulty`` from the matched-scale table."""
    nets = list(m.groupby(_CELL, sort=False)) if len(m) else []
    if not nets:
        return {}
    little, grows, parts = 0, 0, []
    nets = [(k, g.sort_values("sigma")) for k, g in nets if g.sigma.nunique() >= 2]  # a partial grid: skip
    if not nets:
        return {}
    for (d, mo, v), g in nets:
        first, last = g.loss_from_original.iloc[1], g.loss_from_original.iloc[-1]
        little += first <= LITTLE_LOSS
        grows += last >= first
        parts.append(f"{network_name(d, mo, v)} {first:+.1f} / {last:+.1f}")
    out = {"downscale-matched": (
        ratio_verdict(min(little, grows), len(nets)),
        f"loss from sigma 0 at the first / largest sigma (points): {'; '.join(parts)}; little (<= {LITTLE_LOSS:g}) "
        f"in {little} of {len(nets)}, grows in {grows} of {len(nets)}")}
    top = m[m.sigma == m.sigma.max()]
    diff_parts, ordered, groups = [], 0, 0
    for v, g in top.groupby("variant", sort=False):
        losses = g[g.dataset.isin(DIFFICULTY)].groupby("dataset").loss_from_original.mean()
        present = [d for d in DIFFICULTY if d in losses.index]
        if len(present) >= 2:
            groups += 1
            seq = [losses[d] for d in present]
            ordered += all(a <= b for a, b in zip(seq, seq[1:], strict=False))
            diff_parts.append(f"{VARIANT_NAMES.get(v, v)}: " + ", ".join(f"{DATASET_NAMES[d]} {losses[d]:+.1f}"
                                                                         for d in present))
    for r in top[top.dataset.isin(["cifar10", "cifar10_aug"])].itertuples():
        ref = THESIS_CIFAR.get(r.model)
        thesis = (f" (thesis: {ref[1]:g} from {ref[0]:g} %, gap {r.loss_from_original - ref[1]:+.1f})"
                  if ref else "")
        diff_parts.append(f"{network_name(r.dataset, r.model, r.variant)} at sigma {r.sigma:g}: {r.acc:.1f} %, loss "
                          f"{r.loss_from_original:+.1f}{thesis}")
    if groups:
        out["downscale-difficulty"] = (
            ratio_verdict(ordered, groups),
            f"mean loss at the largest sigma, MNIST -> F-MNIST -> CIFAR-10, ordered in {ordered} of {groups} "
            "variant(s): " + "; ".join(diff_parts))
    return out


def _cross_claims(real: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``downscale-asymmetry`` and ``downscale-td-mismatch`` from the whole matrices."""
    out = {}
    asym = asymmetry(real).dropna(subset=["gap"])
    if len(asym):
        hits = int((asym.gap > 0).sum())
        out["downscale-asymmetry"] = (ratio_verdict(hits, len(asym)), "; ".join(
            f"{network_name(r.dataset, r.model, r.variant)}: matched {r.matched:.1f}, "
            f"blurred->sharp {r.blurred_to_sharp:.1f}, sharp->blurred {r.sharp_to_blurred:.1f} %"
            for r in asym.itertuples())
            + f"; asymmetric as claimed in {hits} of {len(asym)}")
    mis = mismatch(real).dropna(subset=["td_minus_bu"])
    if len(mis):
        out["downscale-td-mismatch"] = (ratio_verdict(int((mis.td_minus_bu > 0).sum()), len(mis)), "; ".join(
            f"{network_name(r.dataset, r.model)}: TD - BU {r.td_minus_bu:+.2f} points off the diagonal"
            + (f" (std {r.spread:.2f} over {r.repeats} repeats)" if r.repeats > 1 else " (1 repeat)")
            + f", TD better in {r.td_better_cells} of {r.off_cells} cells; on the diagonal {r.td_minus_bu_matched:+.2f}"
            for r in mis.itertuples()))
    return out


def _toy_claims(toy: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``toy-bu-td`` and ``toy-drift`` from the toy set's rows."""
    out = {}
    if {"bu", "td"} <= set(toy.variant):
        parts, small = [], 0
        models = list(dict.fromkeys(toy.model))
        for mo in models:
            diff = (matrix(toy, TOY, mo, "td") - matrix(toy, TOY, mo, "bu")).abs().to_numpy().mean()
            small += diff <= NO_MAJOR_DIFFERENCE
            parts.append(f"{MODEL_NAMES.get(mo, mo)}: mean |TD - BU| {diff:.2f} points")
        out["toy-bu-td"] = (ratio_verdict(small, len(models)),
                            "; ".join(parts) + f" (no major difference: <= {NO_MAJOR_DIFFERENCE:g})")
    dr = drift(toy)
    dr = dr[dr.train_sigma == 0]
    parts, hits, total = [], 0, 0
    for (mo, v), g in dr.groupby(["model", "variant"], sort=False):
        g = g.sort_values("test_sigma")
        first, last = g.share.iloc[0], g.share.iloc[-1]
        total += 1
        hits += last > first
        parts.append(f"{MODEL_NAMES.get(mo, mo)} {VARIANT_NAMES.get(v, v)}: class 0 predicted for {first:.1f} % "
                     f"at sigma 0, {last:.1f} % at sigma {g.test_sigma.iloc[-1]:g}")
    if total:
        out["toy-drift"] = (ratio_verdict(hits, total), "; ".join(parts) + " (true share 20 %)")
    return out


def claims(df: pd.DataFrame, profile: str) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and the numbers it rests on (``claims.csv`` rows).

    * ``downscale-matched``: the loss from sigma 0 at the first blur level is little
      (<= :data:`LITTLE_LOSS` points) and the largest sigma loses at least as much, per network.
    * ``downscale-difficulty``: the loss at the largest sigma is ordered MNIST <= F-MNIST <= CIFAR-10
      (per variant, over the data sets present), with the CIFAR-10 losses beside the thesis's.
    * ``downscale-asymmetry``: trained blurred / tested sharper below the reverse, per network.
    * ``downscale-td-mismatch``: TD above BU on the mean of the off-diagonal cells, per network.
    * ``toy-bu-td``: mean |TD - BU| over a toy matrix <= :data:`NO_MAJOR_DIFFERENCE` points.
    * ``toy-drift``: class 0's predicted share at the largest test sigma above its share at
      sigma 0, for networks trained at sigma 0.

    ``ratio_verdict``: ``holds`` when every case agrees, ``does not hold`` when at most half do.
    A claim without data is ``not measured at this profile``.
    """
    real, toy = df[df.dataset != TOY], df[df.dataset == TOY]
    found: dict[str, tuple[str, str]] = {}
    if len(real):
        found.update(_matched_claims(matched(real)))
        found.update(_cross_claims(real))
    if len(toy):
        found.update(_toy_claims(toy))
    prof = "/".join(sorted(set(df.profile))) if len(df) else profile
    return pd.DataFrame([row(c, *found[c.id], prof) if c.id in found else row(c, UNMEASURED, "", profile)
                         for c in CLAIMS.values()], columns=list(COLUMNS))


# --------------------------------------------------------------------------------------------
# One planned cell, for tdlib.book.executor
# --------------------------------------------------------------------------------------------


def compute(experiment: str, config: Mapping[str, Any], profile: str, device: str | None = None) -> None:
    """Compute one planned cell (an ``(experiment, config)`` pair of :func:`plan`, with its ``test_sigmas``)
    into the cache unless cached.

    The chapter's cell runner (``Chapter.cell_runner``), called by :func:`tdlib.book.executor.run_cells`.
    """
    from ..train import train_config

    if experiment != EXPERIMENT:
        raise ValueError(f"unknown downscale experiment {experiment!r}; expected {EXPERIMENT!r}")
    run = {k: v for k, v in config.items() if k != "test_sigmas"}
    if "test_sigmas" not in config:
        raise ValueError("a downscale cell's configuration names its test_sigmas")
    run_cell(train_config(run), [float(s) for s in config["test_sigmas"]], profile, device=device, progress=False)
