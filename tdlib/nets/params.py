"""The paper's Table 1: trainable parameters of BU, TD, TDuni and TDrev per architecture.

Our counts are computed from the networks :func:`tdlib.get_model` builds. Two sets of
reference numbers are typed in and labelled: the paper's Table 1, and the counts of the
authors' Keras code (built in TensorFlow and counted; ``shared/reference/experiments.md``
§4). Ours must equal the code's; where the paper differs from its own code (LeNetFC BU;
NIN and NINext TD and TDuni) we also count the paper-implied variant.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .build import count_parameters
from .factory import get_model
from .registry import model_info

TABLE1_MODELS: tuple[str, ...] = ("lenetfc", "nin_light", "nin", "resnet32")
TABLE1_VARIANTS: tuple[str, ...] = ("bu", "td", "uni", "rev")
VARIANT_NAMES = {"bu": "BU", "td": "TD", "uni": "TDuni", "rev": "TDrev"}

PAPER_TABLE1: dict[str, tuple[int, int, int, int]] = {
    # Lelekas et al. 2020, Table 1 (BU, TD, TDuni, TDrev), as printed in the paper.
    "lenetfc": (8_790, 14_452, 23_486, 57_846),
    "nin_light": (62_094, 215_118, 217_182, 214_206),
    "nin": (969_822, 3_405_918, 3_434_910, 3_388_446),
    "resnet32": (467_946, 528_042, 319_626, 563_274),
}

CODE_TABLE1: dict[str, tuple[int, int, int, int]] = {
    # Trainable parameters of the authors' Keras models (experiments.md §4), at the
    # dataset's input shape: 28x28x1 for LeNetFC and NIN-light, 32x32x3 otherwise.
    "lenetfc": (7_670, 14_452, 23_486, 57_846),
    "nin_light": (62_094, 212_670, 214_734, 214_206),
    "nin": (969_822, 3_368_478, 3_397_470, 3_388_446),
    "resnet32": (467_946, 528_042, 319_626, 563_274),
}

CODE_OTHER: dict[tuple[str, str], int] = {
    # Models outside Table 1, same source: ResNet18 (Imagenette) BU and TD.
    ("resnet18_light", "bu"): 2_799_114,
    ("resnet18_light", "td"): 4_966_538,
}


def table1() -> pd.DataFrame:
    """Our parameter counts beside the paper's and the original code's.

    Returns:
        One row per (model, variant) with columns ``model`` (paper name), ``registry``,
        ``input`` (C x H x W), ``variant``, ``ours``, ``code``, ``paper``, ``ours_eq_code``,
        ``paper_eq_code`` and ``paper_variant`` (our count of the paper-implied variant,
        where the paper differs from the code; else empty).
    """
    rows = []
    for name in TABLE1_MODELS:
        info = model_info(name)
        c, h, w = info.input_shape
        for i, variant in enumerate(TABLE1_VARIANTS):
            ours = count_parameters(get_model(name, variant))  # type: ignore[arg-type]
            code, paper = CODE_TABLE1[name][i], PAPER_TABLE1[name][i]
            implied = None
            if paper != code:
                implied = count_parameters(get_model(name, variant, paper_variant=True))  # type: ignore[arg-type]
            rows.append(dict(
                model=info.paper_name, registry=name, input=f"{h}x{w}x{c}", variant=VARIANT_NAMES[variant],
                ours=ours, code=code, paper=paper, ours_eq_code=ours == code, paper_eq_code=paper == code,
                paper_variant=implied,
            ))
    return pd.DataFrame(rows)


def table1_note(row: Any) -> str:
    """How one row of :func:`table1` compares: ours vs the code, the paper vs the code."""
    note = "ours = code" if row.ours_eq_code else f"ours != code ({row.ours - row.code:+,})"
    if not row.paper_eq_code:
        note += f"; paper != code ({row.paper - row.code:+,})"
        if row.paper_variant is not None and not pd.isna(row.paper_variant):
            ok = "= paper" if int(row.paper_variant) == row.paper else "!= paper"
            note += f"; paper-implied variant {int(row.paper_variant):,} {ok}"
    return note


def table1_summary(df: pd.DataFrame) -> str:
    """The verdict lines under :func:`table1`."""
    implied = df[~df.paper_eq_code]
    hits = int((implied.paper_variant.astype(int) == implied.paper).sum())
    return (
        f"{int(df.ours_eq_code.sum())} of {len(df)} counts equal the original code's.\n"
        f"The paper differs from its code in {len(implied)} cells; the paper-implied variants "
        f"(get_model(..., paper_variant=True)) match the paper in {hits} of them. LeNetFC BU: one more "
        "1x1-32 conv before the head; NIN/NINext TD and TDuni: a 1x1 projection at the first merge. "
        "Both are inferences from the counts, not from code."
    )


def format_table1(df: pd.DataFrame) -> str:
    """Plain-text rendering of :func:`table1` with the verdict lines."""
    head = f"{'model':<8} {'input':<9} {'variant':<7} {'ours':>10} {'code':>10} {'paper':>10}  notes"
    lines = ["Table 1: trainable parameters (ours: tdlib; code: the authors' Keras models; paper: Table 1)",
             head, "-" * len(head)]
    for r in df.itertuples():
        lines.append(f"{r.model:<8} {r.input:<9} {r.variant:<7} {r.ours:>10,} {r.code:>10,} {r.paper:>10,}  "
                     f"{table1_note(r)}")
    lines.append("-" * len(head))
    lines.append(table1_summary(df))
    return "\n".join(lines)
