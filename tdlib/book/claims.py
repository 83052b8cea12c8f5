"""Claims of the paper and thesis, and their verdicts: one schema for every chapter.

Each experiment module states its claims once, as :class:`Claim` objects (an id, where the
claim is made, the claim in one sentence, the paper's own words or number, and the section
of the chapter that tests it). From its results it computes one :func:`row` per claim with
a verdict (:data:`VERDICTS`) and the measured numbers the verdict rests on. A chapter
writes its rows to ``data/results/<chapter>/claims.csv`` (:func:`tdlib.book.results.save_table`),
where the claims ledger reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HOLDS, PARTLY, FAILS, UNMEASURED = "holds", "partly", "does not hold", "not measured at this profile"
#: Every verdict a claim can get.
VERDICTS = (HOLDS, PARTLY, FAILS, UNMEASURED)
#: The columns of a chapter's ``claims.csv``. ``paper_scale_verdict`` and ``paper_scale_measured``
#: repeat the verdict on the cells computed at the paper's scale alone (:func:`add_paper_scale`).
COLUMNS = ("id", "chapter", "section", "source", "claim", "paper", "verdict", "measured", "profile",
           "paper_scale_verdict", "paper_scale_measured")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper or thesis.

    Attributes:
        id: Unique over the book, e.g. ``downscale-matched``.
        chapter: The chapter that tests it (its runner name).
        section: The chapter section that shows the evidence (its heading text).
        source: Where it is made, e.g. ``thesis §3.2.1, Fig. 3.4``.
        claim: The claim in one sentence.
        paper: The paper's own words or number.
    """

    id: str
    chapter: str
    section: str
    source: str
    claim: str
    paper: str


def ratio_verdict(hits: int, total: int) -> str:
    """``holds`` when every case agrees, ``does not hold`` when at most half do, ``partly`` between;
    ``not measured`` when there is no case."""
    if total == 0:
        return UNMEASURED
    return HOLDS if hits == total else FAILS if hits <= total / 2 else PARTLY


def row(claim: Claim, verdict: str, measured: str, profile: str, paper_scale_verdict: str = "",
        paper_scale_measured: str = "") -> dict[str, Any]:
    """One ``claims.csv`` row (the paper-scale verdict blank unless given)."""
    if verdict not in VERDICTS or paper_scale_verdict not in ("", *VERDICTS):
        bad = verdict if verdict not in VERDICTS else paper_scale_verdict
        raise ValueError(f"unknown verdict {bad!r}; expected one of {', '.join(VERDICTS)}")
    return {"id": claim.id, "chapter": claim.chapter, "section": claim.section, "source": claim.source,
            "claim": claim.claim, "paper": claim.paper, "verdict": verdict, "measured": measured, "profile": profile,
            "paper_scale_verdict": paper_scale_verdict, "paper_scale_measured": paper_scale_measured}


def add_paper_scale(claims_df: Any, df: Any, compute: Callable[[Any], Any], column: str = "profile") -> Any:
    """The claims, with each verdict computed again on the paper-scale cells alone.

    A page mixes reduced cells with the cells cached at the paper's settings, so its verdicts
    rest on both. This repeats them on ``df``'s rows whose ``column`` is ``"paper"``:
    ``compute(rows)`` returns claims rows for them, and their measured verdicts fill
    ``paper_scale_verdict`` and ``paper_scale_measured`` (blank where no such row exists or
    the claim is not measured on them).

    Args:
        claims_df: Claims rows (:data:`COLUMNS`).
        df: The table the verdicts were computed from.
        compute: ``rows -> claims rows``: the chapter's verdicts on a part of ``df``.
        column: The column that says which rows are paper-scale (``profile``; Grad-CAM:
            ``trained_on``, the profile of the explained networks).
    """
    out = claims_df.copy()
    out["paper_scale_verdict"], out["paper_scale_measured"] = "", ""
    paper = df[df[column] == "paper"] if len(df) and column in df else None
    if paper is None or paper.empty:
        return out
    got = compute(paper).set_index("id")
    got = got[got.verdict != UNMEASURED]
    out["paper_scale_verdict"] = out.id.map(got.verdict).fillna("")
    out["paper_scale_measured"] = out.id.map(got.measured).fillna("")
    return out


def markdown(claims_df: Any, source: str = "paper") -> str:
    """Claims rows (:data:`COLUMNS`) as a markdown list: the claim (``source``'s words; where), verdict,
    numbers, and the verdict on the paper-scale cells alone where there is one."""
    def scale(r: Any) -> str:
        v = getattr(r, "paper_scale_verdict", "")
        return f" *Paper-scale cells alone:* **{v}**. {r.paper_scale_measured}." if v else ""

    return "\n".join(f"- **{r.claim}** ({source}: {r.paper}; {r.source}): **{r.verdict}**"
                     + (f". {r.measured}." if r.measured else ".") + scale(r) for r in claims_df.itertuples())


def section_anchor(section: str) -> str:
    """The HTML id Sphinx gives a section heading (docutils ``make_id``), e.g. ``figure-3-4-matched-...``."""
    from docutils.nodes import make_id

    return make_id(section)


def chapter_claims(chapter: Any) -> dict[str, Claim]:
    """The :class:`Claim` objects a chapter states: the ``CLAIMS`` of its experiment module
    ``tdlib.experiments.<name>`` (dashes as underscores); empty when it has none.

    The module is found by that naming rule, so the book machinery imports no experiment by name.
    """
    import importlib
    import importlib.util

    name = f"tdlib.experiments.{chapter.name.replace('-', '_')}"
    if importlib.util.find_spec(name) is None:
        return {}
    return dict(getattr(importlib.import_module(name), "CLAIMS", {}))


def ledger(root: Any = None) -> Any:
    """Every claim of every chapter, with the verdict its chapter last computed (``claims.csv``).

    A claim whose chapter has not written a verdict for it (the chapter has not run, or ran
    before it stated the claim) is ``not measured at this profile`` with an empty profile,
    never missing. Rows follow the book's chapter order, then each chapter's claim order.

    Returns:
        A DataFrame with :data:`COLUMNS` plus ``href``: the chapter's page and section anchor.
    """
    import pandas as pd

    from .chapters import CHAPTERS
    from .results import results_root

    base = results_root() if root is None else root
    rows = []
    for ch in CHAPTERS:
        stated = chapter_claims(ch)
        if not stated:
            continue
        path = base / ch.name / "claims.csv"
        found = pd.read_csv(path, keep_default_na=False).set_index("id") if path.is_file() else None
        for cid, claim in stated.items():
            if found is not None and cid in found.index:
                r = found.loc[cid]
                rows.append(row(claim, str(r.verdict), str(r.measured), str(r.profile),
                                str(r.get("paper_scale_verdict", "")), str(r.get("paper_scale_measured", ""))))
            else:
                rows.append(row(claim, UNMEASURED, "", ""))
            rows[-1]["href"] = f"{ch.name}.html#{section_anchor(claim.section)}"
    return pd.DataFrame(rows, columns=[*COLUMNS, "href"])


def verdict_counts(table: Any) -> Any:
    """How many claims got each verdict, per profile (rows: profile; columns: :data:`VERDICTS`)."""
    import pandas as pd

    counts = table.assign(profile=table.profile.replace("", "none")).pivot_table(
        index="profile", columns="verdict", values="id", aggfunc="count", fill_value=0)
    return counts.reindex(columns=list(VERDICTS), fill_value=0).astype(int).rename_axis(None, axis=1) \
        if len(counts) else pd.DataFrame(columns=list(VERDICTS))
