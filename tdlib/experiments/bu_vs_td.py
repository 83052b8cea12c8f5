"""Experiment 1 (paper §4.1, Figure 4): BU versus TD, TDuni and TDrev, trained from scratch.

Each (dataset, model, variant, repeat) cell is one :func:`tdlib.train.train` run, cached on
its own in the results cache (``data/results/bu-vs-td/train/<key>.json``), so a grid
resumes after an interruption and fills up across sessions. The weights of repeat 0 of
each cell (of every repeat at the ``paper`` profile) are saved beside its entry
(``<key>.pt``) for the attack and Grad-CAM chapters.

A grid is described by a chapter's settings (``tdlib.book.chapters``): ``datasets``, ``models``
(per dataset), ``variants``, ``repeats``, ``epochs`` (``None`` means the original epochs),
``train_subset`` and ``test_subset`` (``None`` means all images), and ``wide_td``
(also train ResNet32 TD with a 32-filter last block) and ``recalibrate_bn`` (re-estimate
BatchNorm statistics after short runs; see :func:`tdlib.train.recalibrate_batchnorm`). Epochs, repeats and subsets may
be given once or per model (a dict keyed by registry name).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..book import results
from ..book.chapters import Plan, pick
from ..book.chapters import settings as chapter_settings
from ..book.claims import COLUMNS, UNMEASURED, Claim, add_paper_scale, ratio_verdict, row
from ..nets.params import VARIANT_NAMES
from ..train import TrainConfig, load_weights, save_weights, train

CHAPTER = "bu-vs-td"
EXPERIMENT = "train"
#: ResNet32 TD with a 32-filter last block (the paper's fix for the 16-filter block; no
#: original code). Built with the default projection rule ``"auto"`` (609,322 parameters);
#: ``projection="always"`` is the literal widening (610,378): see :func:`tdlib.nets.to_topdown`.
WIDE_TD_WIDTHS = (64, 32, 32)
#: Weights larger than this many parameters are stored as float16 to keep files small.
HALF_ABOVE = 1_000_000


def cell_configs(settings: Mapping[str, Any]) -> list[TrainConfig]:
    """Every training run of a grid, in the order they are run (cheap cells first)."""
    configs = []
    for dataset in settings["datasets"]:
        for model in pick(settings["models"], dataset, default=[]):
            variants = list(settings["variants"])
            widths: list[tuple[str, tuple[int, ...] | None]] = [(v, None) for v in variants]
            if settings.get("wide_td") and model == "resnet32" and "td" in variants:
                widths.append(("td", WIDE_TD_WIDTHS))
            for repeat in range(int(pick(settings["repeats"], model, default=1))):
                for variant, w in widths:
                    over: dict[str, Any] = {"seed": repeat, "train_subset": pick(settings.get("train_subset"), model),
                                            "test_subset": pick(settings.get("test_subset"), model), "widths": w,
                                            "recalibrate_bn": bool(settings.get("recalibrate_bn", False))}
                    epochs = pick(settings.get("epochs"), model)
                    if epochs is not None:
                        over["epochs"] = int(epochs)
                    configs.append(TrainConfig.paper(dataset, model, variant, **over))
    return configs


def plan(settings: Mapping[str, Any]) -> Plan:
    """The (experiment, configuration) pairs of a grid, for ``python -m tdlib results``."""
    return [(EXPERIMENT, c.as_dict()) for c in cell_configs(settings)]


def weights_path(config: TrainConfig, root: Path | None = None) -> Path:
    """Where the weights of a run are saved: beside its cache entry."""
    return results.entry_path(CHAPTER, EXPERIMENT, config.as_dict(), root).with_suffix(".pt")


def run_cell(config: TrainConfig, profile: str, *, recompute: bool = False, device: str | None = None,
             save: bool | None = None, progress: bool = True) -> results.Entry:
    """Train one cell unless it is cached; save its weights (default: repeat 0, and every repeat of the
    ``paper`` profile, whose networks the attacks and Grad-CAM chapters use per repeat).

    While it trains, the run's state is checkpointed beside its entry (``<key>.ckpt``: every
    epoch, and every 10 minutes within one), so a long run killed midway resumes from there.
    """
    save = (config.seed == 0 or profile == "paper") if save is None else save

    def compute() -> dict[str, Any]:
        res = train(config, device=device, progress=progress, checkpoint=weights_path(config).with_suffix(".ckpt"),
                    stop=results.StopRequest())
        if save:
            save_weights(res.model, weights_path(config), half=res.params > HALF_ABOVE)
        return {"summary": res.summary(), "history": res.history.to_dict(orient="records"),
                "curve": res.curve.to_dict(orient="records")}

    return results.cached(CHAPTER, EXPERIMENT, config.as_dict(), compute, profile=profile, recompute=recompute,
                          device=device)


def run_grid(settings: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> list[results.Entry]:
    """Every cell of a grid, computing what the cache lacks (resumable)."""
    from tqdm import tqdm

    configs = cell_configs(settings)
    out = []
    for c in tqdm(configs, desc="bu-vs-td grid", disable=not progress):
        out.append(run_cell(c, profile, recompute=recompute, device=device, progress=progress))
    return out


def grid(settings: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
         progress: bool = True) -> pd.DataFrame:
    """The experiment: train (or load) every cell of a grid and return its tidy table (see :func:`table`)."""
    return table(run_grid(settings, profile, recompute=recompute, device=device, progress=progress))


def highest_fidelity(entries: list[results.Entry], settings: Mapping[str, Any]) -> list[results.Entry]:
    """The grid's entries, with each (dataset, model) group replaced by its ``paper``-profile runs where cached.

    A group switches to the paper profile only as a whole (:func:`tdlib.book.results.prefer_complete`):
    for the repeats in which every variant of the group (the same variants and widths as the grid)
    has a cached paper run. So BU and TD of a comparison always come from one profile.

    Args:
        entries: The entries of a reduced grid (:func:`run_grid`).
        settings: That grid's settings (with ``profile``).
    """
    if settings.get("profile") == "paper" or not entries:
        return entries
    paper = cell_configs(chapter_settings("bu-vs-td", "paper"))

    def candidates(key: Any, group: list[results.Entry]) -> list[list[results.Entry | None]]:
        cells = list(dict.fromkeys((e.config["variant"], tuple(e.config["widths"] or ())) for e in group))
        by_seed: dict[int, dict[tuple[str, tuple[int, ...]], TrainConfig]] = {}
        for c in paper:
            if (c.dataset, c.model) == key:
                by_seed.setdefault(c.seed, {})[(c.variant, tuple(c.widths or ()))] = c
        return [[results.lookup(CHAPTER, EXPERIMENT, found[cell].as_dict()) if cell in found else None
                 for cell in cells] for found in by_seed.values()]

    return results.prefer_complete(entries, lambda e: (e.config["dataset"], e.config["model"]), candidates)


def variant_label(variant: str, widths: Any) -> str:
    """``TD``, ``TDuni``, ``TDrev``, or ``TD (last block 32)`` for the widened ResNet TD."""
    name = VARIANT_NAMES[variant]
    return f"{name} (last block {list(widths)[-1]})" if widths else name


#: The paper's numbers quoted in its text (§4.1); Figure 4 itself is a bar chart without
#: numbers. ResNet32 on CIFAR-10 (with or without augmentation: the text does not say).
PAPER_TEXT_ACCURACY: dict[tuple[str, str], str] = {
    ("resnet32", "BU"): "~88.7 (TD + 5.7)",
    ("resnet32", "TD"): "~83",
    ("resnet32", "TDrev"): ">89",
    ("resnet32", "TD (last block 32)"): "~87",
}


def train_images(config: dict[str, Any]) -> int:
    """Training images per epoch of a configuration (the pool minus its validation split)."""
    from ..train import image_counts

    return image_counts(config["dataset"], config["train_subset"], val_fraction=config["val_fraction"])[0]


def table(entries: list[results.Entry]) -> pd.DataFrame:
    """The tidy table of a grid: one row per (dataset, model, variant, repeat)."""
    rows = [{**e.result["summary"], "train_images": train_images(e.config), "profile": e.provenance["profile"]}
            for e in entries]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["label"] = [variant_label(v, w) for v, w in zip(df.variant, df.widths, strict=True)]
    df["images_per_s"] = df.train_images / df.seconds_per_epoch
    return df


def paired(df: pd.DataFrame) -> pd.DataFrame:
    """Each TD run against the BU run of the same (dataset, model, repeat).

    Returns:
        Rows ``dataset, model, label, repeat, profile, d_acc`` (test accuracy minus BU's, in
        points) and ``time_ratio`` (seconds per epoch over BU's).
    """
    bu = df[df.variant == "bu"].set_index(["dataset", "model", "repeat"])
    td = df[df.label != "BU"]
    keys = list(zip(td.dataset, td.model, td.repeat, strict=True))
    td = td[[k in bu.index for k in keys]]
    ref = bu.loc[[k for k in keys if k in bu.index]]
    return pd.DataFrame({"dataset": td.dataset.to_numpy(), "model": td.model.to_numpy(), "label": td.label.to_numpy(),
                         "repeat": td.repeat.to_numpy(),
                         "profile": td.profile.to_numpy() if "profile" in td else None,
                         "d_acc": 100 * (td.test_acc.to_numpy() - ref.test_acc.to_numpy()),
                         "time_ratio": td.seconds_per_epoch.to_numpy() / ref.seconds_per_epoch.to_numpy()})


def relative(df: pd.DataFrame, timing: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`paired` aggregated: mean and std (ddof 1; NaN for one repeat) over repeats.

    Args:
        df: :func:`table` rows.
        timing: Other :func:`table` rows that the time ratios come from (default ``df``); a
            cell they lack gets NaN.
    """
    keys = ["dataset", "model", "label"]
    g = paired(df).groupby(keys, sort=False)
    out = g.agg(repeats=("d_acc", "size"), d_acc_mean=("d_acc", "mean"), d_acc_std=("d_acc", "std"),
                time_ratio_mean=("time_ratio", "mean"), time_ratio_std=("time_ratio", "std")).reset_index()
    if timing is None or out.empty:
        return out
    times = relative(timing)[[*keys, "time_ratio_mean", "time_ratio_std"]] if len(timing) else None
    out = out.drop(columns=["time_ratio_mean", "time_ratio_std"])
    return out.merge(times, on=keys, how="left") if times is not None else out.assign(
        time_ratio_mean=float("nan"), time_ratio_std=float("nan"))


def absolute(df: pd.DataFrame, timing: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per cell: repeats, epochs, training images, test accuracy (%) mean and std, every repeat's
    accuracy in the order of the repeats (``acc_runs``: two runs that score alike give a std of 0,
    and the runs show that it is no copy), seconds per epoch, images/s, parameters, and the
    paper's number where its text gives one.

    Args:
        df: :func:`table` rows.
        timing: Other :func:`table` rows that seconds per epoch and images/s come from (default
            ``df``); a cell they lack gets NaN.
    """
    keys = ["dataset", "model", "label"]
    g = df.groupby(keys, sort=False)
    extra = {"profile": ("profile", "first")} if "profile" in df else {}
    out = g.agg(repeats=("test_acc", "size"), epochs=("epochs", "first"), train_images=("train_images", "first"),
                acc_mean=("test_acc", "mean"), acc_std=("test_acc", "std"),
                seconds_per_epoch=("seconds_per_epoch", "mean"), images_per_s=("images_per_s", "mean"),
                params=("params", "first"), **extra).reset_index()
    out[["acc_mean", "acc_std"]] *= 100
    runs = df.sort_values("repeat", kind="stable").groupby(keys, sort=False).test_acc.agg(
        lambda s: ", ".join(f"{100 * a:.2f}" for a in s)).rename("acc_runs")
    out = out.join(runs, on=keys)
    out["paper_text"] = [PAPER_TEXT_ACCURACY.get((m, lab), "") if d.startswith("cifar10") else ""
                         for d, m, lab in zip(out.dataset, out.model, out.label, strict=True)]
    if timing is not None and not out.empty:
        speed = ["seconds_per_epoch", "images_per_s"]
        times = timing.groupby(keys, sort=False)[speed].mean().reset_index() if len(timing) else None
        columns = list(out.columns)
        out = out.drop(columns=speed)
        out = (out.merge(times, on=keys, how="left") if times is not None
               else out.assign(seconds_per_epoch=float("nan"), images_per_s=float("nan")))[columns]
    return out


def load_trained(dataset: str, model: str, variant: str, settings: Mapping[str, Any],
                 device: str = "cpu") -> Any:
    """The saved repeat-0 network of a cell of the grid described by ``settings``."""
    for c in cell_configs(settings):
        if (c.dataset, c.model, c.variant, c.seed, c.widths) == (dataset, model, variant, 0, None):
            path = weights_path(c)
            if not path.is_file():
                raise FileNotFoundError(f"no saved weights for {dataset}/{model}/{variant} at {path}; run "
                                        f"python -m tdlib run bu-vs-td with the same profile first")
            return load_weights(c, path, device)
    raise ValueError(f"{dataset}/{model}/{variant} is not a cell of this grid")


def _fmt(rows: pd.DataFrame, col: str, spec: str = "+.2f", unit: str = "") -> str:
    return "; ".join(f"{r.dataset} {r.model} {r.label} {getattr(r, col):{spec}}{unit}" for r in rows.itertuples())


# --------------------------------------------------------------------------------------------
# Claims and verdicts
# --------------------------------------------------------------------------------------------

#: "On par": a mean accuracy within this many points of the BU's, or above it.
ON_PAR = 1.0
#: "Most of the gap": the 32-filter ResNet32 TD recovers at least this share of TD's gap to BU
#: (the paper's numbers give (87 - 83) / 5.7 = 70 %).
MOST_OF_GAP = 0.5
_RELATIVE, _ACCURACY, _COST = ("Figure 4: TD variants relative to BU", "Accuracy per cell, beside the paper's",
                               "Cost on this machine")
#: The paper's claims that this chapter tests (experiments.md §10, items 2, 3 and 15).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("bvt-td-on-par", CHAPTER, _RELATIVE, "paper §4.1, Fig. 4",
          "TD networks reach accuracy on par with their BU baselines, sometimes better.",
          "on par, sometimes better"),
    Claim("bvt-tdrev-best", CHAPTER, _ACCURACY, "paper §4.1, Fig. 4",
          "TDrev is the most accurate TD variant.", "TDrev is best overall"),
    Claim("bvt-resnet-gap", CHAPTER, _ACCURACY, "paper §4.1",
          "ResNet32 TD falls well below its BU on CIFAR-10 (its last block has only 16 filters).",
          "TD ~83 %, 5.7 % loss from the respective BU; TDrev > 89 %"),
    Claim("bvt-resnet-wide", CHAPTER, _ACCURACY, "paper §4.1",
          "Widening ResNet32 TD's last block from 16 to 32 filters recovers most of that gap.",
          "32 filters give ~87 %, i.e. (87 - 83) / 5.7 = 70 % of the gap"),
    Claim("bvt-td-slower", CHAPTER, _RELATIVE, "paper §4.1, Fig. 4 (bottom)",
          "TD networks take longer per training epoch than their BU baselines.", "TD/BU time ratio above 1"),
    Claim("bvt-tdrev-slowest", CHAPTER, _COST, "paper §4.1, Fig. 4 (bottom)",
          "TDrev is the slowest variant to train.", "TDrev costs the most parameters and time"),
)}
#: The claims about training time: :func:`claims` takes them from its ``timing`` runs.
TIME_CLAIMS = ("bvt-td-slower", "bvt-tdrev-slowest")
#: The claims that rest on the ResNet32 runs alone (their profile is those runs').
RESNET_CLAIMS = ("bvt-resnet-gap", "bvt-resnet-wide")


def profile_note(df: pd.DataFrame, profile: str) -> str:
    """The line above a reduced profile's verdicts: which runs they describe (empty at the paper profile)."""
    profiles = df.profile if "profile" in df else [profile] * len(df)
    at_paper = sorted({f"{d} {m}" for d, m, p in zip(df.dataset, df.model, profiles, strict=True) if p == "paper"})
    if profile != "paper" and at_paper:
        return (f"*Profile `{profile}`, except the cells cached at the `paper` profile: {', '.join(at_paper)}. "
                "Verdicts over several cells mix both; each cell's profile is in the accuracy table.*")
    if profile != "paper":
        return f"*Profile `{profile}`: reduced runs (see the grid above); these verdicts are about them.*"
    return ""


def _resnet_claims(ab: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``bvt-resnet-gap`` and ``bvt-resnet-wide``, per CIFAR-10 data set with ResNet32 BU and TD."""
    gap_parts, wide_parts, gap_hits, wide_hits, n, n_wide = [], [], 0, 0, 0, 0
    res = ab[ab.model == "resnet32"]
    wide = "TD (last block 32)"
    for dataset in dict.fromkeys(res.dataset):
        r = res[res.dataset == dataset].set_index("label").acc_mean
        if not {"BU", "TD"} <= set(r.index):
            continue
        n += 1
        gap = r["BU"] - r["TD"]
        gap_hits += gap > ON_PAR
        text = f"{dataset}: BU {r['BU']:.2f} %, TD {r['TD']:.2f} % (gap {gap:+.2f} points, paper 5.7)"
        if "TDrev" in r.index:
            text += f", TDrev {r['TDrev']:.2f} %"
        gap_parts.append(text)
        if wide in r.index:
            n_wide += 1
            rec = (r[wide] - r["TD"]) / gap if gap > 0 else float("nan")
            wide_hits += bool(gap > 0 and rec >= MOST_OF_GAP)
            wide_parts.append(f"{dataset}: TD with a 32-filter last block {r[wide]:.2f} % ("
                              + (f"recovers {100 * rec:.0f} % of the {gap:.2f}-point gap" if gap > 0
                                 else "no gap to recover") + ")")
    out = {}
    if n:
        out["bvt-resnet-gap"] = (ratio_verdict(gap_hits, n), "; ".join(gap_parts)
                                 + f"; TD more than {ON_PAR:g} point below BU in {gap_hits} of {n}")
    if n_wide:
        out["bvt-resnet-wide"] = (ratio_verdict(wide_hits, n_wide), "; ".join(wide_parts)
                                  + f"; at least {100 * MOST_OF_GAP:.0f} % recovered in {wide_hits} of {n_wide} "
                                  "(paper: 70 %)")
    return out


def _profiles(df: pd.DataFrame, default: str) -> str:
    return "/".join(sorted(set(df.profile))) if len(df) and "profile" in df else default


def claims(df: pd.DataFrame, profile: str, timing: pd.DataFrame | None = None,
           paper_scale: bool = True) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and the numbers it rests on (``claims.csv`` rows).

    * ``bvt-td-on-par``: TD's mean accuracy within :data:`ON_PAR` point of BU's or above it, per
      (data set, model).
    * ``bvt-tdrev-best``: TDrev has the highest mean accuracy of TD, TDuni and TDrev, per (data set, model).
    * ``bvt-resnet-gap``: ResNet32 TD more than :data:`ON_PAR` point below BU, per CIFAR-10 data set.
    * ``bvt-resnet-wide``: the 32-filter ResNet32 TD recovers at least :data:`MOST_OF_GAP` of that
      gap, per CIFAR-10 data set (no gap: not a hit).
    * ``bvt-td-slower``: TD's mean time per epoch above BU's, per (data set, model).
    * ``bvt-tdrev-slowest``: TDrev has the largest TD/BU time ratio of the three, per (data set, model).

    ``ratio_verdict``: ``holds`` when every case agrees, ``does not hold`` when at most half do.
    A claim without data is ``not measured at this profile``. The rows' profile lists the
    profiles of the runs (``cpu/paper`` where :func:`highest_fidelity` mixed them).

    Args:
        df: :func:`table` of the runs whose accuracies are compared.
        profile: The chapter's profile.
        timing: :func:`table` of the runs whose times per epoch are compared (default ``df``).
            The chapter passes its reduced grid: every time there is measured the same way,
            while the paper-profile runs trained in the background beside other work.
        paper_scale: Also the verdicts on the paper-profile rows alone
            (:func:`tdlib.book.claims.add_paper_scale`); the time claims stay blank there.
    """
    timing = df if timing is None else timing
    found: dict[str, tuple[str, str]] = {}
    if len(df):
        rel, ab = relative(df), absolute(df)
        td = rel[rel.label == "TD"]
        if not td.empty:
            par, better = int((td.d_acc_mean >= -ON_PAR).sum()), int((td.d_acc_mean > 0).sum())
            found["bvt-td-on-par"] = (ratio_verdict(par, len(td)), (
                f"TD within {ON_PAR:g} point of BU or better in {par} of {len(td)} (dataset, model) cells, better in "
                f"{better}; TD minus BU, in points: {_fmt(td, 'd_acc_mean')}"))
        three = ab[ab.label.isin(["TD", "TDuni", "TDrev"])]
        if three.label.nunique() == 3:
            best = three.loc[three.groupby(["dataset", "model"], sort=False).acc_mean.idxmax()]
            n_rev = int((best.label == "TDrev").sum())
            found["bvt-tdrev-best"] = (ratio_verdict(n_rev, len(best)), (
                f"TDrev the most accurate in {n_rev} of {len(best)} cells; best variant per cell: "
                + "; ".join(f"{r.dataset} {r.model} {r.label} ({r.acc_mean:.2f} %)" for r in best.itertuples())))
        found.update(_resnet_claims(ab))
    if len(timing):
        rel = relative(timing)
        td = rel[rel.label == "TD"]
        if not td.empty:
            slower = int((td.time_ratio_mean > 1).sum())
            found["bvt-td-slower"] = (ratio_verdict(slower, len(td)), (
                f"TD's time per epoch above BU's in {slower} of {len(td)} cells; TD/BU time ratios: "
                + _fmt(td, "time_ratio_mean", ".2f", "x")))
        slow = rel[rel.label.isin(["TD", "TDuni", "TDrev"])]
        if slow.label.nunique() == 3:
            slowest = slow.loc[slow.groupby(["dataset", "model"], sort=False).time_ratio_mean.idxmax()]
            n_slow = int((slowest.label == "TDrev").sum())
            found["bvt-tdrev-slowest"] = (ratio_verdict(n_slow, len(slowest)), (
                f"TDrev the slowest in {n_slow} of {len(slowest)} cells; TD/BU time ratios of TDrev: "
                + _fmt(slow[slow.label == "TDrev"], "time_ratio_mean", ".2f", "x")))
    resnet = df[df.model == "resnet32"] if len(df) else df
    prof = {c: _profiles(timing if c in TIME_CLAIMS else resnet if c in RESNET_CLAIMS else df, profile)
            for c in CLAIMS}
    out = pd.DataFrame([row(c, *found[c.id], prof[c.id]) if c.id in found else row(c, UNMEASURED, "", profile)
                        for c in CLAIMS.values()], columns=list(COLUMNS))
    return (add_paper_scale(out, df, lambda rows: claims(rows, "paper", rows.iloc[0:0], False)) if paper_scale
            else out)


def timing_spread(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell with several ``paper``-profile repeats: how far their times per epoch lie apart.

    Returns:
        Rows ``dataset, model, label, repeats, fastest, slowest`` (seconds per epoch) and
        ``spread`` (slowest / fastest), largest spread first; empty without such cells.
    """
    cols = ["dataset", "model", "label", "repeats", "fastest", "slowest", "spread"]
    paper = df[df.profile == "paper"] if len(df) and "profile" in df else df.iloc[0:0]
    if paper.empty:
        return pd.DataFrame(columns=cols)
    g = paper.groupby(["dataset", "model", "label"], sort=False).seconds_per_epoch
    out = g.agg(repeats="size", fastest="min", slowest="max").reset_index()
    out = out[out.repeats > 1]
    out["spread"] = out.slowest / out.fastest
    return out.sort_values("spread", ascending=False)[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# One planned cell, for tdlib.book.executor
# --------------------------------------------------------------------------------------------


def compute(experiment: str, config: Mapping[str, Any], profile: str, device: str | None = None) -> None:
    """Compute one planned cell (an ``(experiment, config)`` pair of :func:`plan`) into the cache unless cached.

    The chapter's cell runner (``Chapter.cell_runner``): :func:`tdlib.book.executor.run_cells`
    calls it, locally or on a Dask worker; repeat 0 also saves its weights, as :func:`run_grid`.
    """
    from ..train import train_config

    if experiment != EXPERIMENT:
        raise ValueError(f"unknown bu-vs-td experiment {experiment!r}; expected {EXPERIMENT!r}")
    run_cell(train_config(config), profile, device=device, progress=False)
