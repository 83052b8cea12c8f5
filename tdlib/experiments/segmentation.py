"""Experiment 3 (paper §4.3, Figure 7): U-net, FCN and TD segmenting 2x2 Fashion-MNIST meshes.

Each (network, repeat) cell is one :func:`tdlib.train.train` run with the original
segmentation recipe (``TrainConfig.paper("fashion_mnist_mesh", model)``: Nesterov SGD,
lr 0.01, the Eq. 1 class-weighted pixel loss, ``ReduceLROnPlateau`` on the validation
loss, 20 epochs, batch 128), cached on its own in the results cache
(``data/results/segmentation/train/<key>.json``), so a grid resumes after an interruption;
a run itself is checkpointed every epoch and every 10 minutes (``<key>.ckpt``). Each repeat has its own
seed and so its own random 10% validation split of the training meshes; the meshes
themselves are built once (seed 0), as in the original. Each entry keeps the predicted
label maps of the first :data:`STORED_EXAMPLES` test meshes (a few kB) for the chapter's
qualitative predictions, so no weights need to be committed; ``run_cell(..., save=True)``
also saves the weights beside the entry (``<key>.pt``) for a user who wants the network.

A grid is described by a chapter's settings (``tdlib.book.chapters``): ``models`` (``unet``,
``fcn``, ``td_seg``), ``repeats``, ``epochs`` (``None``: the original 20),
``train_subset`` and ``test_subset`` (meshes kept before the validation split and of the
2,500 test meshes; ``None``: all), ``recalibrate_bn`` (re-estimate BatchNorm statistics
after short runs, :func:`tdlib.train.recalibrate_batchnorm`) and ``examples`` (how many of
the stored test meshes the chapter shows with their predictions, at most
:data:`STORED_EXAMPLES`).

Metrics (:mod:`tdlib.segmentation`, experiments.md §8): the per-class IoU pooled over the
test meshes (12 classes: the ten Fashion-MNIST classes, background and ignore), the mean
IoU of the 11 non-ignore classes (the paper's footnote 5) and the pixel accuracy; each as
mean and standard deviation (ddof 1) over repeats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..book import results
from ..book.chapters import Plan, pick
from ..book.chapters import settings as chapter_settings
from ..book.claims import COLUMNS, FAILS, HOLDS, PARTLY, UNMEASURED, Claim, add_paper_scale, ratio_verdict, row
from ..data.mesh import IGNORE, MESH_COUNTS, MESH_INFO, NUM_CLASSES
from ..train import TrainConfig, save_weights, train

CHAPTER = "segmentation"
EXPERIMENT = "train"
DATASET = "fashion_mnist_mesh"
#: The three networks, in the paper's order (Figure 7 and its caption).
MODELS = ("unet", "fcn", "td_seg")
#: Their names in the paper.
LABELS = {"unet": "U-net", "fcn": "FCN", "td_seg": "TD"}
#: The 12 pixel classes, by label index.
CLASS_NAMES: tuple[str, ...] = tuple(MESH_INFO.classes)
#: Weights larger than this many parameters are stored as float16 (all three networks are).
HALF_ABOVE = 1_000_000

#: The paper's mean IoUs (%), from the caption of its Figure 7: "roughly 81%, 76%, 75% for
#: U-net, FCN and the TD network". The per-class IoUs exist only as bars in Figure 7.
PAPER_MIOU = {"unet": 81.0, "fcn": 76.0, "td_seg": 75.0}
#: Trainable parameters of the authors' Keras models (experiments.md §4).
PAPER_CODE_PARAMS = {"unet": 1_742_500, "fcn": 1_151_484, "td_seg": 1_562_212}
#: Within this many points of a BU network's mean IoU counts as "comparable" (the paper
#: calls TD's 75 % "comparable" to FCN's 76 % and U-net's 81 %, i.e. gaps up to 6 points).
COMPARABLE_POINTS = 6.0


def cell_configs(settings: Mapping[str, Any]) -> list[TrainConfig]:
    """Every training run of a grid: repeat by repeat, the networks in the order of ``models``."""
    models = list(settings.get("models") or MODELS)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown segmentation network(s) {', '.join(unknown)}; expected {', '.join(MODELS)}")
    configs = []
    repeats = max(int(pick(settings.get("repeats"), m, default=1)) for m in models) if models else 0
    for repeat in range(repeats):
        for model in models:
            if repeat >= int(pick(settings.get("repeats"), model, default=1)):
                continue
            over: dict[str, Any] = {"seed": repeat, "train_subset": pick(settings.get("train_subset"), model),
                                    "test_subset": pick(settings.get("test_subset"), model),
                                    "recalibrate_bn": bool(settings.get("recalibrate_bn", False))}
            epochs = pick(settings.get("epochs"), model)
            if epochs is not None:
                over["epochs"] = int(epochs)
            configs.append(TrainConfig.paper(DATASET, model, **over))
    return configs


def plan(settings: Mapping[str, Any]) -> Plan:
    """The (experiment, configuration) pairs of a grid, for ``python -m tdlib results``."""
    return [(EXPERIMENT, c.as_dict()) for c in cell_configs(settings)]


#: Test meshes whose predicted label maps every entry keeps (the chapter shows the first few).
STORED_EXAMPLES = 8


def weights_path(config: TrainConfig, root: Path | None = None) -> Path:
    """Where the weights of a run are saved: beside its cache entry."""
    return results.entry_path(CHAPTER, EXPERIMENT, config.as_dict(), root).with_suffix(".pt")


def run_cell(config: TrainConfig, profile: str, *, recompute: bool = False, device: str | None = None,
             save: bool = False, progress: bool = True) -> results.Entry:
    """Train one cell unless it is cached; keep its predictions on the example meshes.

    While it trains, the run's state is checkpointed beside its entry (``<key>.ckpt``: every
    epoch, and every 10 minutes within one), so a long run killed midway resumes from there.

    Args:
        save: Also save the trained weights beside the entry (``<key>.pt``, float16 for big nets).
    """

    def compute() -> dict[str, Any]:
        res = train(config, device=device, progress=progress, checkpoint=weights_path(config).with_suffix(".ckpt"),
                    stop=results.StopRequest())
        if save:
            save_weights(res.model, weights_path(config), half=res.params > HALF_ABOVE)
        images, _ = example_meshes(STORED_EXAMPLES)
        with torch.inference_mode():
            maps = res.model.eval()(images.to(next(res.model.parameters()).device)).argmax(1).cpu()
        return {"summary": res.summary(), "history": res.history.to_dict(orient="records"),
                "curve": res.curve.to_dict(orient="records"), "examples": [encode_labels(m) for m in maps]}

    return results.cached(CHAPTER, EXPERIMENT, config.as_dict(), compute, profile=profile, recompute=recompute,
                          device=device)


def encode_labels(label_map: torch.Tensor) -> str:
    """A label map ``(H, W)`` of classes 0-11 as one hex digit per pixel, row by row (JSON-friendly)."""
    return "".join("0123456789ab"[v] for v in label_map.flatten().tolist())


def decode_labels(text: str, size: int = 56) -> np.ndarray:
    """Inverse of :func:`encode_labels`: ``(size, size)`` integer labels."""
    return np.array([int(ch, 16) for ch in text], dtype=np.int64).reshape(size, size)


def run_grid(settings: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> list[results.Entry]:
    """Every cell of a grid, computing what the cache lacks (resumable)."""
    from tqdm import tqdm

    configs = cell_configs(settings)
    return [run_cell(c, profile, recompute=recompute, device=device, progress=progress)
            for c in tqdm(configs, desc="segmentation grid", disable=not progress)]


def highest_fidelity(entries: list[results.Entry], settings: Mapping[str, Any]) -> list[results.Entry]:
    """The grid's entries, replaced by the ``paper``-profile runs of every repeat in which all of the grid's
    networks are cached at that profile (:func:`tdlib.book.results.prefer_complete`); the three networks
    are compared, so they switch together. Nothing is computed here."""
    if settings.get("profile") == "paper" or not entries:
        return entries
    models = list(dict.fromkeys(e.config["model"] for e in entries))
    by_seed: dict[int, dict[str, TrainConfig]] = {}
    for c in cell_configs(chapter_settings(CHAPTER, "paper")):
        by_seed.setdefault(c.seed, {})[c.model] = c

    def candidates(key: Any, group: list[results.Entry]) -> list[list[results.Entry | None]]:
        return [[results.lookup(CHAPTER, EXPERIMENT, found[m].as_dict()) if m in found else None for m in models]
                for found in by_seed.values()]

    return results.prefer_complete(entries, lambda e: CHAPTER, candidates)


def train_meshes(config: Mapping[str, Any]) -> int:
    """Training meshes per epoch of a configuration (the pool minus its validation split)."""
    n = config["train_subset"] or MESH_COUNTS["train"]
    return n - math.ceil(config["val_fraction"] * n - 1e-9)


def test_meshes(config: Mapping[str, Any]) -> int:
    """Test meshes of a configuration."""
    return config["test_subset"] or MESH_COUNTS["test"]


def table(entries: Sequence[results.Entry]) -> pd.DataFrame:
    """The tidy table of a grid: one row per (network, repeat).

    Columns: ``model``, ``label`` (the paper's name), ``repeat``, ``epochs``, ``train_meshes``,
    ``test_meshes``, ``miou`` and ``pixel_acc`` (%), ``iou`` (12 per-class IoUs, %, NaN for a
    class neither present nor predicted), ``seconds_per_epoch``, ``meshes_per_s``, ``params``,
    ``profile``, ``device`` (the machine that trained it).
    """
    rows = []
    for e in entries:
        s = e.result["summary"]
        rows.append({"model": s["model"], "label": LABELS.get(s["model"], s["model"]), "repeat": s["repeat"],
                     "epochs": s["epochs"], "train_meshes": train_meshes(e.config),
                     "test_meshes": test_meshes(e.config),
                     "miou": 100 * s["test_miou"], "pixel_acc": 100 * s["test_acc"],
                     "iou": [100 * (math.nan if v is None else v) for v in s["test_iou"]],
                     "seconds_per_epoch": s["seconds_per_epoch"], "params": s["params"],
                     "profile": e.provenance["profile"], "device": s["device"]})
    df = pd.DataFrame(rows)
    if not df.empty:
        df["meshes_per_s"] = df.train_meshes / df.seconds_per_epoch
    return df


def iou_long(df: pd.DataFrame) -> pd.DataFrame:
    """The per-class IoUs of :func:`table` in long form: ``model, label, repeat, class_index, class, iou`` (%)
    and ``profile``."""
    rows = [{"model": r.model, "label": r.label, "repeat": r.repeat, "class_index": k, "class": CLASS_NAMES[k],
             "iou": v, "profile": getattr(r, "profile", None)} for r in df.itertuples() for k, v in enumerate(r.iou)]
    return pd.DataFrame(rows, columns=["model", "label", "repeat", "class_index", "class", "iou", "profile"])


def _mean_std(values: pd.Series) -> str:
    """``mean ± std`` (std ddof 1), or the mean alone for one value; blank when all are NaN."""
    v = values.dropna()
    if v.empty:
        return ""
    return f"{v.mean():.1f} ± {v.std():.1f}" if len(v) > 1 else f"{v.mean():.1f}"


def per_class(df: pd.DataFrame) -> pd.DataFrame:
    """Figure 7 as a table: one row per class, one ``mean ± std`` column (IoU, %) per network.

    The ignore class is listed last and marked: it is not in the mean IoU (nor, with weight 0,
    in the loss); its IoU only says how the networks label the faint pixels.
    """
    long = iou_long(df)
    out = pd.DataFrame({"class": [f"{c} (not in the mean)" if k == IGNORE else c
                                  for k, c in enumerate(CLASS_NAMES)]})
    for label in dict.fromkeys(long.label):
        sub = long[long.label == label]
        out[label] = [_mean_std(sub[sub.class_index == k].iou) for k in range(NUM_CLASSES)]
    return out


def summary(df: pd.DataFrame, timing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per network: repeats, epochs, meshes, mean IoU and pixel accuracy (mean and std over repeats, %),
    the paper's mean IoU and our difference from it (points), time per epoch, meshes/s and parameters.

    Args:
        df: :func:`table` rows.
        timing: Other :func:`table` rows that time per epoch and meshes/s come from (default
            ``df``; a network they lack gets NaN). The chapter passes its own grid: paper-profile
            runs trained in the background beside other work, so their times describe the load.
    """
    g = df.groupby(["model", "label"], sort=False)
    out = g.agg(repeats=("miou", "size"), epochs=("epochs", "first"), train_meshes=("train_meshes", "first"),
                test_meshes=("test_meshes", "first"), miou_mean=("miou", "mean"), miou_std=("miou", "std"),
                pixel_acc_mean=("pixel_acc", "mean"), pixel_acc_std=("pixel_acc", "std"),
                seconds_per_epoch=("seconds_per_epoch", "mean"), meshes_per_s=("meshes_per_s", "mean"),
                params=("params", "first"), profile=("profile", "first")).reset_index()
    if timing is not None and not out.empty:
        speed = ["seconds_per_epoch", "meshes_per_s"]
        times = (timing.groupby("model", sort=False)[speed].mean() if len(timing)
                 else pd.DataFrame(columns=speed, dtype=float))
        for col in speed:
            out[col] = out.model.map(times[col]).astype(float)
    out["paper_miou"] = out.model.map(PAPER_MIOU)
    out["diff_points"] = out.miou_mean - out.paper_miou
    out["paper_code_params"] = out.model.map(PAPER_CODE_PARAMS)
    return out


def _order(means: Mapping[str, float]) -> str:
    """``U-net > FCN > TD`` from the mean IoUs (``=`` where two round to the same tenth)."""
    items = sorted(means.items(), key=lambda kv: -kv[1])
    text = LABELS[items[0][0]]
    for (_, a), (m, b) in zip(items, items[1:], strict=False):
        text += (" = " if round(a, 1) == round(b, 1) else " > ") + LABELS[m]
    return text


#: Within this many points of the paper's mean IoU counts as "roughly" its number (ours: the
#: caption rounds to whole percents and gives no spread).
ROUGHLY_POINTS = 2.0
_MIOU = "Mean IoU beside the paper's"
#: The paper's claims that this chapter tests (experiments.md §10, item 8).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("seg-miou", CHAPTER, _MIOU, "paper §4.3, Fig. 7 caption",
          "The mean IoUs are roughly 81 % (U-net), 76 % (FCN) and 75 % (TD).", "roughly 81 %, 76 %, 75 %"),
    Claim("seg-order", CHAPTER, _MIOU, "paper §4.3, Fig. 7",
          "By mean IoU, U-net > FCN > TD.", "TD is outperformed by both, mainly by the U-net"),
    Claim("seg-td-comparable", CHAPTER, _MIOU, "paper §4.3",
          "TD is slightly below both BU networks, but comparable to them.",
          "outperformed ... with small only margins (1 and 6 points below FCN and U-net)"),
)}


def profile_note(df: pd.DataFrame, profile: str) -> str:
    """The lines around a reduced profile's verdicts: which runs they describe, and their spread (markdown)."""
    out = []
    paper = sorted(set(df.repeat[df.profile == "paper"])) if not df.empty and "profile" in df else []
    if profile != "paper" and paper:
        which = f"repeat{'s' if len(paper) > 1 else ''} {', '.join(map(str, paper))}"
        out.append(f"*Profile `{profile}`, except {which}, cached at the `paper` profile (all three networks at "
                   f"the original settings); with {'them' if len(paper) > 1 else 'it'}, the `{profile}` runs are not "
                   "shown. These verdicts are about the runs in the table.*")
    elif profile != "paper":
        out.append(f"*Profile `{profile}`: reduced runs (see the grid above); these verdicts are about them, "
                   "not about the paper's setting.*")
    if df.empty:
        return "\n\n".join(out)
    if len(df.repeat.unique()) < 2:
        out.append("One repeat: no standard deviation, so a gap of a few points may be noise.")
    else:
        s = summary(df).set_index("model")
        stds = "; ".join(f"{LABELS[m]} {s.miou_std[m]:.1f}" for m in MODELS if m in s.index)
        out.append(f"Standard deviation of the mean IoU over {df.repeat.nunique()} repeats, in points: {stds}.")
    return "\n\n".join(out)


def claims(df: pd.DataFrame, profile: str, paper_scale: bool = True) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and the numbers it rests on (``claims.csv`` rows).

    * ``seg-miou``: each network's mean IoU within :data:`ROUGHLY_POINTS` of the paper's
      (``ratio_verdict`` over the networks).
    * ``seg-order``: our order of the mean IoUs is the paper's (over the networks present);
      ``holds`` or ``does not hold``.
    * ``seg-td-comparable``: TD at most :data:`COMPARABLE_POINTS` below each BU network
      (comparable) and below both (slightly below): ``holds`` when both, ``partly`` when only
      comparable, ``does not hold`` when not comparable.

    A claim without data is ``not measured at this profile``. ``paper_scale``: also the
    verdicts on the paper-profile repeats alone (:func:`tdlib.book.claims.add_paper_scale`).
    """
    found: dict[str, tuple[str, str]] = {}
    means = summary(df).set_index("model").miou_mean.to_dict() if len(df) else {}
    present = [m for m in MODELS if m in means]
    if present:
        close = [m for m in present if abs(means[m] - PAPER_MIOU[m]) <= ROUGHLY_POINTS]
        found["seg-miou"] = (ratio_verdict(len(close), len(present)), "; ".join(
            f"{LABELS[m]} {means[m]:.1f} % (paper {PAPER_MIOU[m]:.0f} %, {means[m] - PAPER_MIOU[m]:+.1f} points)"
            for m in present) + f"; within {ROUGHLY_POINTS:g} points in {len(close)} of {len(present)} "
            "(11 classes, ignore excluded)")
    if len(present) >= 2:
        paper_order = _order({m: PAPER_MIOU[m] for m in present})
        ours = _order({m: means[m] for m in present})
        pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
        gaps = "; ".join(f"{LABELS[a]} - {LABELS[b]} {means[a] - means[b]:+.1f} points "
                         f"(paper {PAPER_MIOU[a] - PAPER_MIOU[b]:+.0f})" for a, b in pairs)
        found["seg-order"] = (HOLDS if ours == paper_order else FAILS, f"ours {ours}; gaps: {gaps}")
    bus = [m for m in ("unet", "fcn") if m in means]
    if "td_seg" in means and bus:
        below = {m: means[m] - means["td_seg"] for m in bus}
        comparable = round(max(below.values()), 1) <= COMPARABLE_POINTS
        under = all(v > 0 for v in below.values())
        lines = ", ".join(f"{below[m]:.1f} points below {LABELS[m]}" if below[m] >= 0 else
                          f"{-below[m]:.1f} points above {LABELS[m]}" for m in bus)
        verdict = (HOLDS if under else PARTLY) if comparable else FAILS
        found["seg-td-comparable"] = (verdict, (
            f"TD is {lines}; comparable (at most {COMPARABLE_POINTS:.0f} points below each) "
            f"{'yes' if comparable else 'no'}, below {'both' if len(bus) > 1 else LABELS[bus[0]]} "
            f"{'yes' if under else 'no'}"))
    prof = "/".join(sorted(set(df.profile))) if len(df) else profile
    out = pd.DataFrame([row(c, *found[c.id], prof) if c.id in found else row(c, UNMEASURED, "", profile)
                        for c in CLAIMS.values()], columns=list(COLUMNS))
    return add_paper_scale(out, df, lambda rows: claims(rows, "paper", False)) if paper_scale else out


def example_meshes(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` test meshes (built with seed 0, as every run's test set) and their labels."""
    from ..data import fashion_mnist_mesh

    x, y = fashion_mnist_mesh("test", 0)
    return x[:count], y[:count]


def predictions(settings: Mapping[str, Any], count: int) -> dict[str, np.ndarray]:
    """Predicted label maps ``(count, 56, 56)`` of the first ``count`` test meshes, by paper name.

    Read from the cached repeat-0 entry of each model of a grid (run the grid first).
    """
    if not 1 <= count <= STORED_EXAMPLES:
        raise ValueError(f"examples must be between 1 and {STORED_EXAMPLES} (the meshes an entry stores), got {count}")
    out = {}
    for c in cell_configs(settings):
        if c.seed != 0:
            continue
        entry = results.lookup(CHAPTER, EXPERIMENT, c.as_dict())
        if entry is None:
            raise FileNotFoundError(f"no cached run of {c.model} for these settings; run python -m tdlib run "
                                    "segmentation with the same profile first")
        out[LABELS[c.model]] = np.stack([decode_labels(t) for t in entry.result["examples"][:count]])
    return out


def grid_table(settings: Mapping[str, Any]) -> pd.DataFrame:
    """What a grid trains, per network: repeats, epochs, meshes (train / validation / test), steps, recipe."""
    rows = []
    for c in cell_configs(settings):
        d = c.as_dict()
        n = c.train_subset or MESH_COUNTS["train"]
        rows.append({"model": c.model, "label": LABELS[c.model], "seed": c.seed, "epochs": c.epochs,
                     "train_meshes": train_meshes(d), "val_meshes": n - train_meshes(d), "test_meshes": test_meshes(d),
                     "steps": c.epochs * math.ceil(train_meshes(d) / c.batch_size), "lr": c.lr,
                     "schedule": c.schedule, "bn_reestimated": c.recalibrate_bn})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.groupby(["model", "label"], sort=False).agg(
        repeats=("seed", "nunique"), epochs=("epochs", "first"), train_meshes=("train_meshes", "first"),
        val_meshes=("val_meshes", "first"), test_meshes=("test_meshes", "first"), steps=("steps", "first"),
        lr=("lr", "first"), schedule=("schedule", "first"), bn_reestimated=("bn_reestimated", "first")).reset_index()


def reductions(settings: Mapping[str, Any]) -> str:
    """What a profile's grid reduces against the paper's, as one markdown sentence ("" at the paper's settings)."""
    grid = grid_table(settings)
    if grid.empty:
        return "This grid trains nothing."
    first = grid.iloc[0]
    parts = []
    if first.repeats < 4:
        parts.append(f"{first.repeats} repeat{'s' if first.repeats > 1 else ''} instead of 4")
    if first.epochs < 20:
        parts.append(f"{first.epochs} epoch{'s' if first.epochs > 1 else ''} instead of 20 "
                     f"({first.steps:,} SGD steps per network instead of 2,120)")
    if first.train_meshes + first.val_meshes < MESH_COUNTS["train"]:
        parts.append(f"{first.train_meshes:,} training and {first.val_meshes:,} validation meshes instead of "
                     "13,500 and 1,500")
    if first.test_meshes < MESH_COUNTS["test"]:
        parts.append(f"{first.test_meshes:,} test meshes instead of 2,500")
    if first.bn_reestimated:
        parts.append("BatchNorm statistics re-estimated after the last epoch (not in the original)")
    missing = [LABELS[m] for m in MODELS if m not in set(grid.model)]
    if missing:
        parts.append(f"no {', '.join(missing)}")
    if not parts:
        return "This grid has the paper's settings."
    return "Reduced against the paper: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------------------------
# One planned cell, for tdlib.book.executor
# --------------------------------------------------------------------------------------------


def compute(experiment: str, config: Mapping[str, Any], profile: str, device: str | None = None) -> None:
    """Compute one planned cell (an ``(experiment, config)`` pair of :func:`plan`) into the cache unless cached.

    The chapter's cell runner (``Chapter.cell_runner``), called by :func:`tdlib.book.executor.run_cells`.
    """
    from ..train import train_config

    if experiment != EXPERIMENT:
        raise ValueError(f"unknown segmentation experiment {experiment!r}; expected {EXPERIMENT!r}")
    run_cell(train_config(config), profile, device=device, progress=False)
