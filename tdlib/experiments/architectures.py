"""Architectures chapter: parameter counts, FLOPs and input pyramids.

Everything here is a deterministic function of the code, computed live in seconds, so
nothing is cached: a change in the code shows up in the chapter (and fails nbval) at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from ..bench import flops_per_image
from ..book.claims import COLUMNS, UNMEASURED, Claim, ratio_verdict, row
from ..data import dataset_info, load_arrays
from ..nets import count_parameters, get_model, model_info
from ..nets.layers import MERGES
from ..nets.params import VARIANT_NAMES
from ..nets.topdown import ARRANGEMENTS
from ..pyramid import DOWNSCALE_METHODS, pyramid


def costs(models: Sequence[str], arrangements: Sequence[str] = ARRANGEMENTS,
          merges: Sequence[str] = MERGES) -> pd.DataFrame:
    """Parameters and forward FLOPs per image of each BU and each (arrangement, merge) TD.

    Args:
        models: Registry names.
        arrangements: TD filter arrangements.
        merges: Resolution merges.

    Returns:
        Rows ``model, paper_name, variant, merge, params, mflops, params_vs_bu, flops_vs_bu``;
        the BU row has ``merge`` ``"-"``. FLOPs count convolutions and matrix products at
        the paper's input size (2 per multiply-add), for the network as defined.
    """
    cells = [(m, "bu", "-") for m in models] + [(m, a, g) for m in models for a in arrangements for g in merges]
    rows = []
    # disable=None: a progress bar on a terminal, none inside an executed notebook.
    for name, variant, merge in tqdm(cells, desc="architectures", leave=False, disable=None):
        torch.manual_seed(0)
        cfg = {} if variant == "bu" else {"merge": merge}
        model = get_model(name, variant, **cfg)  # type: ignore[arg-type]
        x = torch.rand(2, *model_info(name).input_shape)
        rows.append({"model": name, "paper_name": model_info(name).paper_name, "variant": VARIANT_NAMES[variant],
                     "merge": merge, "params": count_parameters(model),
                     "mflops": flops_per_image(model, x, train=False) / 1e6})
    df = pd.DataFrame(rows)
    bu = df[df.variant == "BU"].set_index("model")
    df["params_vs_bu"] = df.params / df.model.map(bu.params)
    df["flops_vs_bu"] = df.mflops / df.model.map(bu.mflops)
    return df


def example_image(dataset: str, index: int = 0) -> tuple[Tensor, str]:
    """A test image in [0, 1] as ``(1, C, H, W)`` and its class name (no mean subtracted)."""
    x, y = load_arrays(dataset, train=False)
    if not 0 <= index < len(x):
        raise ValueError(f"image_index must be in [0, {len(x)}), got {index}")
    img = torch.from_numpy(x[index]).permute(2, 0, 1).float().div(255).unsqueeze(0)
    return img, dataset_info(dataset).classes[int(y[index])]


def pyramids(image: Tensor, levels: int = 3, methods: Sequence[str] = DOWNSCALE_METHODS) -> dict[str, list[Tensor]]:
    """The input pyramid of ``image`` ``(1, C, H, W)`` for every downscale method."""
    return {m: pyramid(image, levels, m) for m in methods}


# --------------------------------------------------------------------------------------------
# Claims and verdicts
# --------------------------------------------------------------------------------------------

CHAPTER = "architectures"
#: The paper's claims that this chapter tests (experiments.md §10, item 1; and §3.2 of the paper).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("arch-table1", CHAPTER, "Table 1: trainable parameters", "paper §4.1, Table 1",
          "The classifiers have the trainable-parameter counts of Table 1 (BU, TD, TDuni and TDrev of LeNetFC, "
          "NIN, NINext and ResNet32).", "Table 1's 16 counts"),
    Claim("arch-merge-params", CHAPTER, "Merge options and filter arrangements", "paper §3.2, Fig. 3",
          "The concat and add+concat merges add equally many parameters; the add merge is the cheapest.",
          "Options (2) and (3) introduce an equal number of additional parameters, while method (1) is more "
          "memory efficient"),
)}


def _table1_claim(t1: pd.DataFrame) -> tuple[str, str]:
    differ = t1[~t1.paper_eq_code]
    implied = int((differ.paper_variant.astype(int) == differ.paper).sum()) if len(differ) else 0
    same = int((t1.ours == t1.paper).sum())
    return ratio_verdict(same, len(t1)), (
        f"ours = paper in {same} of {len(t1)} counts; ours = the authors' code in {int(t1.ours_eq_code.sum())} of "
        f"{len(t1)}; the paper's table differs from its code in {len(differ)} cells ("
        + "; ".join(f"{r.model} {r.variant} by {r.paper - r.code:+,}" for r in differ.itertuples())
        + f"), and the variants these counts imply (`get_model(name, variant, paper_variant=True)`) reproduce "
        f"{implied} of those {len(differ)}")


def _merge_claim(costs: pd.DataFrame) -> tuple[str, str] | None:
    td = costs[costs.variant != "BU"].pivot_table(index=["paper_name", "variant"], columns="merge", values="params")
    if not {"add", "concat", "add_concat"} <= set(td.columns) or td.empty:
        return None
    same = td["concat"] == td["add_concat"]
    cheapest = td["add"] < td[["concat", "add_concat"]].min(axis=1)
    return ratio_verdict(int(same.sum() + cheapest.sum()), 2 * len(td)), (
        f"`concat` and `add_concat` have equal parameter counts in {int(same.sum())} of {len(same)} (model, "
        f"arrangement) cells, and `add` has the fewest in {int(cheapest.sum())} of {len(cheapest)}")


def claims(t1: pd.DataFrame, costs: pd.DataFrame | None, profile: str) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and the numbers it rests on (``claims.csv`` rows).

    * ``arch-table1``: our count equals the paper's, per (model, variant) of :func:`tdlib.nets.params.table1`;
      the numbers also say how many equal the authors' code and how many of the paper's other
      counts the paper-implied variants reproduce.
    * ``arch-merge-params``: per (model, TD arrangement) of :func:`costs`, ``concat`` and
      ``add_concat`` have equal counts, and ``add`` fewer than both; both conditions counted.

    ``ratio_verdict``: ``holds`` when every case agrees, ``does not hold`` when at most half do.
    A claim without data is ``not measured at this profile``.
    """
    found: dict[str, tuple[str, str]] = {}
    if len(t1):
        found["arch-table1"] = _table1_claim(t1)
    merge = _merge_claim(costs) if costs is not None and len(costs) else None
    if merge is not None:
        found["arch-merge-params"] = merge
    return pd.DataFrame([row(c, *found[c.id], profile) if c.id in found else row(c, UNMEASURED, "", profile)
                         for c in CLAIMS.values()], columns=list(COLUMNS))
