"""The thesis's Fourier filtering (§3.2.3, Eq. 3.1, Figures 3.7-3.8) and progressive growing (§3.2.4).

Four kinds of training run, each a :func:`tdlib.train.train` run with Experiment 1's recipe,
cached on its own (``data/results/fourier/train/<key>.json``):

* ``original``: BU and TD on the original images (the reference);
* ``lowpass`` / ``highpass``: BU and TD trained on x_low = IFT(FT(x) m) or x_high =
  IFT(FT(x)(1 - m)), m a centred disk of ``radius`` cycles per image (``TrainConfig.fourier``),
  for a sweep of radii (the thesis does not give its radius); tested on the original test set
  (the thesis's test) and on the test set filtered the same way (:func:`tdlib.train.evaluate_fourier`);
* ``rings``: TD fed non-overlapping concentric Fourier bands instead of the blur pyramid
  (``TrainConfig.td_inputs="fourier_rings"``): the coarsest step gets r <= 5, the next
  5 < r <= 10, the finest r > 10 (the thesis's radii), each band at its step's resolution;
* ``grow-trainable`` / ``grow-frozen``: TD grown coarse step first (``TrainConfig.grow``,
  :mod:`tdlib.nets.progressive`): every layer trainable after each growth step, or the
  earlier steps frozen.

A grid is described by a chapter's settings (``tdlib.book.chapters``): ``datasets``, ``models``
(per dataset), ``variants`` (of the filtered runs), ``radii`` (the cut-off sweep, cycles per
image), ``ring_radii`` (a list of radius pairs, per dataset or once), ``grow`` (regimes),
``repeats``, ``epochs`` (``None``: the original), ``grow_epochs`` (epochs of the grown runs, and
of a TD trained from scratch with as many as their reference; ``None``: ``epochs``; a growing run
splits its epochs among the TD's steps, so a short run leaves the whole network few epochs),
``train_subset``, ``test_subset`` and ``recalibrate_bn``. Per-cell settings may be given once, or as a dict keyed by
``"dataset/model"``, dataset or model (first match wins).
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
from ..book.layout import DATASET_NAMES, MODEL_NAMES, network_name
from ..data import load_arrays
from ..pyramid import fourier_bands, fourier_highpass, fourier_lowpass, frequency_radius
from ..train import TrainConfig, base_dataset, evaluate_fourier, image_counts, train

CHAPTER = "fourier"
EXPERIMENT = "train"
KINDS = ("original", "lowpass", "highpass", "rings", "grow-trainable", "grow-frozen")
#: The thesis's ring radii (cycles per image).
THESIS_RINGS = (5.0, 10.0)
#: Within this many points of the reference counts as "almost as good" / "no substantial change" (ours).
CLOSE = 1.0
#: A ring-band TD at most this many points below the pyramid TD is "slightly lower" (ours).
SLIGHTLY = 3.0


def _pick(value: Any, dataset: str, model: str, default: Any = None) -> Any:
    return pick(value, f"{dataset}/{model}", dataset, model, default=default)


def kind_of(config: TrainConfig | Mapping[str, Any]) -> str:
    """The kind of a run (:data:`KINDS`) from its configuration."""
    c = config.as_dict() if isinstance(config, TrainConfig) else config
    if c.get("grow", "none") != "none":
        return f"grow-{c['grow']}"
    if c.get("td_inputs", "single") == "fourier_rings":
        return "rings"
    return c.get("fourier", "none") if c.get("fourier", "none") != "none" else "original"


def cell_configs(settings: Mapping[str, Any]) -> list[TrainConfig]:
    """Every training run of a grid: per dataset and model and repeat, the references, the filtered
    runs (radius by radius), the ring-band TDs and the grown TDs."""
    configs = []
    for dataset in settings["datasets"]:
        for model in pick(settings["models"], dataset, default=[]):
            base: dict[str, Any] = {"train_subset": _pick(settings.get("train_subset"), dataset, model),
                                    "test_subset": _pick(settings.get("test_subset"), dataset, model),
                                    "recalibrate_bn": bool(settings.get("recalibrate_bn", False))}
            epochs = _pick(settings.get("epochs"), dataset, model)
            if epochs is not None:
                base["epochs"] = int(epochs)
            variants = list(settings.get("variants") or ["bu", "td"])
            grow_epochs = _pick(settings.get("grow_epochs"), dataset, model)
            grow_over = {"epochs": int(grow_epochs)} if grow_epochs is not None else {}
            for repeat in range(int(_pick(settings.get("repeats"), dataset, model, 1))):
                def cfg(variant: str, **over: Any) -> TrainConfig:
                    return TrainConfig.paper(dataset, model, variant, seed=repeat, **{**base, **over})  # noqa: B023

                configs += [cfg(v) for v in variants]
                for radius in settings.get("radii") or []:
                    configs += [cfg(v, fourier=kind, fourier_radius=float(radius))
                                for kind in ("lowpass", "highpass") for v in variants]
                for radii in _pick(settings.get("ring_radii"), dataset, model, []) or []:
                    configs.append(cfg("td", td_inputs="fourier_rings", ring_radii=tuple(float(r) for r in radii)))
                grown = [cfg("td", grow=regime, **grow_over) for regime in settings.get("grow") or []]
                scratch = cfg("td", **grow_over)
                if grown and scratch not in configs:  # the grown runs' reference, with as many epochs
                    configs.append(scratch)
                configs += grown
    return configs


def plan(settings: Mapping[str, Any]) -> Plan:
    """The (experiment, configuration) pairs of a grid, for ``python -m tdlib results``."""
    return [(EXPERIMENT, c.as_dict()) for c in cell_configs(settings)]


def run_cell(config: TrainConfig, profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> results.Entry:
    """Train one cell unless cached; a filtered run is also tested on the filtered test set."""

    def compute() -> dict[str, Any]:
        ckpt = results.entry_path(CHAPTER, EXPERIMENT, config.as_dict()).with_suffix(".ckpt")
        res = train(config, device=device, progress=progress, checkpoint=ckpt, stop=results.StopRequest())
        out = {"summary": res.summary(), "history": res.history.to_dict(orient="records"),
               "curve": res.curve.to_dict(orient="records")}
        if config.fourier != "none":
            out["filtered"] = evaluate_fourier(res.model, config)
        return out

    return results.cached(CHAPTER, EXPERIMENT, config.as_dict(), compute, profile=profile, recompute=recompute,
                          device=device)


def run_grid(settings: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> list[results.Entry]:
    """Every cell of a grid, computing what the cache lacks (resumable)."""
    from tqdm import tqdm

    return [run_cell(c, profile, recompute=recompute, device=device, progress=progress)
            for c in tqdm(cell_configs(settings), desc="fourier grid", disable=not progress)]


def grid_table(settings: Mapping[str, Any]) -> pd.DataFrame:
    """What a grid trains, one row per (dataset, model): runs per kind, repeats, epochs, images."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cell_configs(settings):
        train_images, test_images = image_counts(c.dataset, c.train_subset, c.test_subset, c.val_fraction)
        r = rows.setdefault((c.dataset, c.model), {
            "dataset": DATASET_NAMES.get(c.dataset, c.dataset), "model": MODEL_NAMES.get(c.model, c.model),
            "runs": 0, "repeats": 0, "epochs": set(), "train_images": train_images,
            "test_images": test_images})
        r["runs"] += 1
        r["repeats"] = max(r["repeats"], c.seed + 1)
        r["epochs"].add(c.epochs)
    out = pd.DataFrame(rows.values())
    if len(out):
        out["epochs"] = out.epochs.map(lambda e: ", ".join(str(x) for x in sorted(e)))
    return out


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def table(entries: Sequence[results.Entry]) -> pd.DataFrame:
    """One row per run: ``dataset, model, variant, kind, radius, ring_radii, repeat, acc`` (original test
    set, %), ``acc_filtered`` (the filtered test set, %; NaN for unfiltered runs), ``seconds_per_epoch``,
    ``epochs``, ``profile``."""
    rows = []
    for e in entries:
        c, s = e.config, e.result["summary"]
        filt = e.result.get("filtered") or {}
        rings = c.get("ring_radii", list(THESIS_RINGS)) if kind_of(c) == "rings" else None  # the default is keyless
        rows.append({"dataset": c["dataset"], "model": c["model"], "variant": c["variant"], "kind": kind_of(c),
                     "radius": float(c.get("fourier_radius", 0.0)) or np.nan,
                     "ring_radii": "/".join(f"{r:g}" for r in rings) if rings else "",
                     "repeat": c["seed"], "acc": 100 * float(s["test_acc"]),
                     "acc_filtered": 100 * float(filt["test_acc_filtered"]) if filt else np.nan,
                     "seconds_per_epoch": s["seconds_per_epoch"], "epochs": c["epochs"],
                     "profile": e.provenance["profile"]})
    return pd.DataFrame(rows)


def filtering(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, variant, kind, radius, epochs): mean accuracy (%) over repeats on the original and
    the filtered test set, and the change from the same network trained as long on original images (points)."""
    sub = df[df.kind.isin(["lowpass", "highpass"])]
    if sub.empty:
        return pd.DataFrame(columns=["dataset", "model", "variant", "kind", "radius", "epochs", "acc", "acc_filtered",
                                     "reference", "change"])
    keys = ["dataset", "model", "variant", "kind", "radius", "epochs"]
    out = sub.groupby(keys, sort=False)[["acc", "acc_filtered"]].mean().reset_index()
    ref = df[df.kind == "original"].groupby(["dataset", "model", "variant", "epochs"]).acc.mean()
    out["reference"] = [ref.get((r.dataset, r.model, r.variant, r.epochs), np.nan) for r in out.itertuples()]
    out["change"] = out.acc - out.reference
    return out


def variants_vs_td(df: pd.DataFrame) -> pd.DataFrame:
    """The ring-band and grown TDs against the TD trained on original images for as many epochs: mean
    accuracy (%) over repeats, the change in points and its spread (std over repeats of the paired
    differences)."""
    td = df[(df.variant == "td") & (df.kind == "original")].set_index(["dataset", "model", "repeat", "epochs"]).acc
    rows = []
    other = df[df.kind.isin(["rings", "grow-trainable", "grow-frozen"])]
    for (d, m, kind, rings, ep), g in other.groupby(["dataset", "model", "kind", "ring_radii", "epochs"], sort=False):
        paired = [(a, td.get((d, m, r, ep), np.nan)) for a, r in zip(g.acc, g.repeat, strict=True)]
        diffs = np.array([a - b for a, b in paired])
        rows.append({"dataset": d, "model": m, "kind": kind, "ring_radii": rings, "epochs": ep, "repeats": len(g),
                     "acc": g.acc.mean(), "td": np.nanmean([b for _, b in paired]), "change": np.nanmean(diffs),
                     "spread": np.nanstd(diffs, ddof=1) if len(diffs) > 1 else np.nan})
    return pd.DataFrame(rows, columns=["dataset", "model", "kind", "ring_radii", "epochs", "repeats", "acc", "td",
                                       "change", "spread"])


def growth_curves(entries: Sequence[results.Entry]) -> pd.DataFrame:
    """Per-epoch validation accuracy (%) of the TDs trained from scratch and grown (repeat 0), with the
    stage of each epoch (1 for scratch runs): ``dataset, model, kind, epoch, val_acc, stage``. Where a
    network was grown, the scratch run is the one with as many epochs."""
    grown_epochs = {(e.config["dataset"], e.config["model"]): e.config["epochs"] for e in entries
                    if kind_of(e.config).startswith("grow-")}
    rows = []
    for e in entries:
        c = e.config
        kind = kind_of(c)
        if c["variant"] != "td" or kind not in ("original", "grow-trainable", "grow-frozen") or c["seed"] != 0:
            continue
        if kind == "original" and grown_epochs.get((c["dataset"], c["model"]), c["epochs"]) != c["epochs"]:
            continue
        for i, h in enumerate(e.result["history"], start=1):
            rows.append({"dataset": c["dataset"], "model": c["model"],
                         "kind": "scratch" if kind == "original" else kind,
                         "epoch": h.get("epoch", i), "val_acc": 100 * float(h["val_acc"]),
                         "stage": int(h.get("stage", 0) or 0)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Figures' data
# --------------------------------------------------------------------------------------------


def example_image(dataset: str) -> Tensor:
    """The first test image of a data set, ``(1, C, H, W)`` in [0, 1]."""
    x, _ = load_arrays(base_dataset(dataset), False)
    return torch.from_numpy(np.ascontiguousarray(x[0])).permute(2, 0, 1)[None].float() / 255


def filter_panels(image: Tensor, radius: float) -> dict[str, np.ndarray]:
    """Figure 3.7: the image, the disk mask, x_low and x_high of ``image`` ``(1, C, H, W)``, each ``(C, H, W)``
    (the mask ``(1, H, W)``, zero frequency centred)."""
    h, w = image.shape[-2:]
    mask = (torch.fft.fftshift(frequency_radius(h, w)) <= radius).float()[None]
    return {"image": image[0].numpy(), "mask": mask.numpy(), "x_low": fourier_lowpass(image, radius)[0].numpy(),
            "x_high": fourier_highpass(image, radius)[0].numpy()}


def ring_panels(image: Tensor, radii: Sequence[float] = THESIS_RINGS) -> dict[str, np.ndarray]:
    """Figure 3.8: the image's concentric Fourier bands (innermost first), each ``(C, H, W)``."""
    edges = [0, *radii]
    names = [f"r ≤ {radii[0]:g}"] + [f"{a:g} < r ≤ {b:g}" for a, b in zip(edges[1:], edges[2:], strict=False)]
    names.append(f"r > {radii[-1]:g}")
    return {n: b[0].numpy() for n, b in zip(names, fourier_bands(image, radii), strict=True)}


# --------------------------------------------------------------------------------------------
# Claims and verdicts
# --------------------------------------------------------------------------------------------

_FILTERING, _RINGS, _GROWING = "Training on filtered images", "Rings instead of the blur pyramid", "Progressive growing"
#: The thesis's claims that this chapter tests (experiments.md §10, items 13 and 14).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("fourier-lowpass", CHAPTER, _FILTERING, "thesis §3.2.3, Eq. 3.1, Fig. 3.7",
          "Trained on the low-pass x_low, BU and TD do almost as well as on the original images.",
          "no substantial difference ... almost as good as when trained on the original"),
    Claim("fourier-highpass", CHAPTER, _FILTERING, "thesis §3.2.3",
          "Trained on the high-pass x_high, both do worse, and TD more so than BU.",
          "x_high performs worse, and the TD even worse (led to more TD parameters and the add+concat merge)"),
    Claim("fourier-rings", CHAPTER, _RINGS, "thesis §3.2.3, Fig. 3.8",
          "TD fed non-overlapping Fourier rings (r <= 5, 5-10, > 10) is slightly less accurate than with the "
          "blur pyramid, so the overlap helps.", "slightly lower accuracy"),
    Claim("grow-trainable", CHAPTER, _GROWING, "thesis §3.2.4",
          "Growing a TD network coarse step first, every layer trainable, changes the final accuracy little.",
          "no substantial change in final accuracy"),
    Claim("grow-frozen", CHAPTER, _GROWING, "thesis §3.2.4",
          "Growing with the earlier layers frozen at each step hurts significantly.",
          "deteriorated significantly"),
)}



def _filter_claims(f: pd.DataFrame) -> dict[str, tuple[str, str]]:
    out = {}
    low = f[f.kind == "lowpass"].dropna(subset=["change"])
    if len(low):
        close = int((low.change >= -CLOSE).sum())
        out["fourier-lowpass"] = (ratio_verdict(close, len(low)), "; ".join(
            f"{network_name(r.dataset, r.model, r.variant)} r={r.radius:g}: {r.change:+.2f}" for r in low.itertuples())
            + f" (points against the original; within {CLOSE:g} point or better in {close} of {len(low)})")
    high = f[f.kind == "highpass"].dropna(subset=["change"])
    if len(high):
        wide = high.pivot_table(index=["dataset", "model", "radius"], columns="variant", values="change")
        worse = int((high.change < -CLOSE).sum())
        parts = [f"{network_name(r.dataset, r.model, r.variant)} r={r.radius:g}: {r.change:+.2f}"
                 for r in high.itertuples()]
        td_more, pairs = 0, 0
        if {"bu", "td"} <= set(wide.columns):
            pairs = int(wide[["bu", "td"]].notna().all(axis=1).sum())
            td_more = int((wide.td < wide.bu).sum())
        hits, total = min(worse, len(high)) + td_more, len(high) + pairs
        out["fourier-highpass"] = (ratio_verdict(hits, total), "; ".join(parts)
                                   + f" (worse by more than {CLOSE:g} point in {worse} of {len(high)}; TD's loss "
                                   f"larger than BU's in {td_more} of {pairs} (data set, radius) pairs)")
    return out


def _variant_claims(v: pd.DataFrame) -> dict[str, tuple[str, str]]:
    out = {}

    def parts(g: pd.DataFrame) -> str:
        return "; ".join(f"{network_name(r.dataset, r.model)}" + (f" rings {r.ring_radii}" if r.ring_radii else "")
                         + (f" ({r.epochs} epochs)" if r.kind.startswith("grow-") else "")
                         + f": {r.acc:.2f} % vs TD {r.td:.2f} % ({r.change:+.2f}"
                         + (f", std {r.spread:.2f}" if pd.notna(r.spread) else "") + ")" for r in g.itertuples())

    rings = v[v.kind == "rings"]
    thesis = rings[rings.ring_radii == "/".join(f"{r:g}" for r in THESIS_RINGS)]
    if len(thesis):
        hits = int(((thesis.change < 0) & (thesis.change >= -SLIGHTLY)).sum())
        out["fourier-rings"] = (ratio_verdict(hits, len(thesis)), parts(rings)
                                + f" (slightly lower, by 0 to {SLIGHTLY:g} points, with the thesis's radii in "
                                f"{hits} of {len(thesis)})")
    for regime, cid in (("grow-trainable", "grow-trainable"), ("grow-frozen", "grow-frozen")):
        g = v[v.kind == regime]
        if len(g):
            ok = g.change.abs() <= CLOSE if regime == "grow-trainable" else g.change < -CLOSE
            hits = int(ok.sum())
            rule = f"within {CLOSE:g} point" if regime == "grow-trainable" else f"more than {CLOSE:g} point lower"
            out[cid] = (ratio_verdict(hits, len(g)), parts(g) + f" ({rule} in {hits} of {len(g)})")
    return out


def claims(df: pd.DataFrame, profile: str) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and its numbers (``claims.csv`` rows).

    * ``fourier-lowpass``: trained on x_low, within :data:`CLOSE` point of (or above) the same
      network trained on original images, per (network, radius); tested on the original test set.
    * ``fourier-highpass``: trained on x_high, more than :data:`CLOSE` point below the original
      per (network, radius), and TD's change below BU's per (data set, model, radius); both counted.
    * ``fourier-rings``: the ring-band TD (the thesis's radii) below the pyramid TD by 0 to
      :data:`SLIGHTLY` points, per (data set, model).
    * ``grow-trainable``: within :data:`CLOSE` point of the TD trained from scratch.
    * ``grow-frozen``: more than :data:`CLOSE` point below it.
    """
    found: dict[str, tuple[str, str]] = {}
    if len(df):
        found.update(_filter_claims(filtering(df)))
        found.update(_variant_claims(variants_vs_td(df)))
    prof = "/".join(sorted(set(df.profile))) if len(df) else profile
    return pd.DataFrame([row(c, *found[c.id], prof) if c.id in found else row(c, UNMEASURED, "", profile)
                         for c in CLAIMS.values()], columns=list(COLUMNS))


# --------------------------------------------------------------------------------------------
# One planned cell, for tdlib.book.executor
# --------------------------------------------------------------------------------------------


def compute(experiment: str, config: Mapping[str, Any], profile: str, device: str | None = None) -> None:
    """Compute one planned cell (an ``(experiment, config)`` pair of :func:`plan`) into the cache unless cached.

    The chapter's cell runner (``Chapter.cell_runner``), called by :func:`tdlib.book.executor.run_cells`.
    """
    from ..train import train_config

    if experiment != EXPERIMENT:
        raise ValueError(f"unknown fourier experiment {experiment!r}; expected {EXPERIMENT!r}")
    run_cell(train_config(config), profile, device=device, progress=False)
