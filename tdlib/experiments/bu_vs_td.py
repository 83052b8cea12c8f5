"""Experiment 1 (paper §4.1, Figure 4): BU versus TD, TDuni and TDrev, trained from scratch.

Each (dataset, model, variant, repeat) cell is one :func:`tdlib.train.train` run, cached on
its own in the results cache (``data/results/bu-vs-td/train/<key>.json``), so a grid
resumes after an interruption and fills up across sessions. The weights of repeat 0 of
each cell are saved beside its entry (``<key>.pt``) for the attack and Grad-CAM chapters.

A grid is described by a chapter's settings (``tdlib.chapters``): ``datasets``, ``models``
(per dataset), ``variants``, ``repeats``, ``epochs`` (``None`` means the original epochs),
``train_subset`` and ``test_subset`` (``None`` means all images), and ``wide_td``
(also train ResNet32 TD with a 32-filter last block). Epochs, repeats and subsets may
be given once or per model (a dict keyed by registry name).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import results
from ..chapters import Plan
from ..params import VARIANT_NAMES
from ..train import TrainConfig, load_weights, save_weights, train

CHAPTER = "bu-vs-td"
EXPERIMENT = "train"
#: ResNet32 TD with a 32-filter last block (the paper's fix for the 16-filter block).
WIDE_TD_WIDTHS = (64, 32, 32)
#: Weights larger than this many parameters are stored as float16 to keep files small.
HALF_ABOVE = 1_000_000


def _per(value: Any, key: str, default: Any = None) -> Any:
    """A setting given either once or per key (a dict)."""
    if isinstance(value, Mapping):
        return value.get(key, default)
    return value if value is not None else default


def cell_configs(settings: Mapping[str, Any]) -> list[TrainConfig]:
    """Every training run of a grid, in the order they are run (cheap cells first)."""
    configs = []
    for dataset in settings["datasets"]:
        for model in _per(settings["models"], dataset, []):
            variants = list(settings["variants"])
            widths: list[tuple[str, tuple[int, ...] | None]] = [(v, None) for v in variants]
            if settings.get("wide_td") and model == "resnet32" and "td" in variants:
                widths.append(("td", WIDE_TD_WIDTHS))
            for repeat in range(int(_per(settings["repeats"], model, 1))):
                for variant, w in widths:
                    over: dict[str, Any] = {"seed": repeat, "train_subset": _per(settings.get("train_subset"), model),
                                            "test_subset": _per(settings.get("test_subset"), model), "widths": w}
                    epochs = _per(settings.get("epochs"), model)
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
    """Train one cell unless it is cached; save its weights (default: repeat 0 only)."""
    save = config.seed == 0 if save is None else save

    def compute() -> dict[str, Any]:
        res = train(config, device=device, progress=progress)
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


def variant_label(variant: str, widths: Any) -> str:
    """``TD``, ``TDuni``, ``TDrev``, or ``TD (last block 32)`` for the widened ResNet TD."""
    name = VARIANT_NAMES[variant]
    return f"{name} (last block {list(widths)[-1]})" if widths else name


def table(entries: list[results.Entry]) -> pd.DataFrame:
    """The tidy table of a grid: one row per (dataset, model, variant, repeat)."""
    rows = [{**e.result["summary"], "profile": e.provenance["profile"]} for e in entries]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["label"] = [variant_label(v, w) for v, w in zip(df.variant, df.widths, strict=True)]
    return df


def relative(df: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy and time per epoch of each variant relative to its BU, mean and std over repeats.

    Accuracy: ``acc - acc_BU`` in points, paired by repeat; time: ``seconds / seconds_BU``,
    paired by repeat. Std is over repeats (ddof 1; NaN with one repeat).
    """
    bu = df[df.variant == "bu"].set_index(["dataset", "model", "repeat"])
    rows = []
    for (dataset, model, label), g in df[df.label != "BU"].groupby(["dataset", "model", "label"], sort=False):
        ref = bu.loc[[(dataset, model, r) for r in g.repeat if (dataset, model, r) in bu.index]]
        g = g[[(dataset, model, r) in bu.index for r in g.repeat]]
        if g.empty:
            continue
        d_acc = 100 * (g.test_acc.to_numpy() - ref.test_acc.to_numpy())
        r_time = g.seconds_per_epoch.to_numpy() / ref.seconds_per_epoch.to_numpy()
        rows.append({"dataset": dataset, "model": model, "label": label, "repeats": len(g),
                     "d_acc_mean": d_acc.mean(), "d_acc_std": d_acc.std(ddof=1) if len(g) > 1 else np.nan,
                     "time_ratio_mean": r_time.mean(),
                     "time_ratio_std": r_time.std(ddof=1) if len(g) > 1 else np.nan})
    return pd.DataFrame(rows)


def absolute(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std test accuracy (%) and seconds per epoch per cell."""
    g = df.groupby(["dataset", "model", "label"], sort=False)
    out = g.agg(repeats=("test_acc", "size"), epochs=("epochs", "first"), acc_mean=("test_acc", "mean"),
                acc_std=("test_acc", "std"), seconds_per_epoch=("seconds_per_epoch", "mean"),
                params=("params", "first")).reset_index()
    out[["acc_mean", "acc_std"]] *= 100
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
