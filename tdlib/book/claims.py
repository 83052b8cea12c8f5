"""Claims of the paper and thesis, and their verdicts: one schema for every chapter.

Each experiment module states its claims once, as :class:`Claim` objects (an id, where the
claim is made, the claim in one sentence, the paper's own words or number, and the section
of the chapter that tests it). From its results it computes one :func:`row` per claim with
a verdict (:data:`VERDICTS`) and the measured numbers the verdict rests on. A chapter
writes its rows to ``data/results/<chapter>/claims.csv`` (:func:`tdlib.book.results.save_table`),
where the claims ledger reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HOLDS, PARTLY, FAILS, UNMEASURED = "holds", "partly", "does not hold", "not measured at this profile"
#: Every verdict a claim can get.
VERDICTS = (HOLDS, PARTLY, FAILS, UNMEASURED)
#: The columns of a chapter's ``claims.csv``.
COLUMNS = ("id", "chapter", "section", "source", "claim", "paper", "verdict", "measured", "profile")


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


def row(claim: Claim, verdict: str, measured: str, profile: str) -> dict[str, Any]:
    """One ``claims.csv`` row."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of {', '.join(VERDICTS)}")
    return {"id": claim.id, "chapter": claim.chapter, "section": claim.section, "source": claim.source,
            "claim": claim.claim, "paper": claim.paper, "verdict": verdict, "measured": measured, "profile": profile}


def markdown(claims_df: Any, source: str = "paper") -> str:
    """Claims rows (:data:`COLUMNS`) as a markdown list: the claim (``source``'s words; where), verdict, numbers."""
    return "\n".join(f"- **{r.claim}** ({source}: {r.paper}; {r.source}): **{r.verdict}**"
                     + (f". {r.measured}." if r.measured else ".") for r in claims_df.itertuples())
