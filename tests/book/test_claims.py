"""tdlib.book.claims: verdict rules, the ledger over every chapter, links to existing sections."""

import re

import nbformat
import pandas as pd
import pytest

from tdlib.book import claims as cl
from tdlib.book.chapters import CHAPTERS


def test_ratio_verdict_gives_every_verdict():
    assert cl.ratio_verdict(3, 3) == cl.HOLDS
    assert cl.ratio_verdict(2, 3) == cl.PARTLY
    assert cl.ratio_verdict(1, 2) == cl.FAILS and cl.ratio_verdict(0, 4) == cl.FAILS
    assert cl.ratio_verdict(0, 0) == cl.UNMEASURED


def test_row_rejects_an_unknown_verdict():
    claim = cl.Claim("x", "downscale", "S", "paper §1", "A claim.", "words")
    assert cl.row(claim, cl.HOLDS, "1.0", "cpu")["verdict"] == cl.HOLDS
    with pytest.raises(ValueError, match="unknown verdict"):
        cl.row(claim, "maybe", "", "cpu")


def test_section_anchor_is_sphinx_id():
    assert cl.section_anchor("Figure 3.4: matched train and test scales") == "figure-3-4-matched-train-and-test-scales"
    assert cl.section_anchor("Figure 3.5: the whole train × test matrices") == (
        "figure-3-5-the-whole-train-test-matrices")


def _headings(chapter) -> set[str]:
    nb = nbformat.read(chapter.path, as_version=4)
    return {m.group(1).strip() for c in nb.cells if c.cell_type == "markdown"
            for m in re.finditer(r"^#+\s+(.+)$", c.source, flags=re.M)}


def test_ledger_lists_every_claim_once_and_links_to_an_existing_section():
    table = cl.ledger()
    stated = [cid for ch in CHAPTERS for cid in cl.chapter_claims(ch)]
    assert len(stated) >= 11 and sorted(table.id) == sorted(stated)
    assert table.id.is_unique
    by_name = {ch.name: ch for ch in CHAPTERS}
    for r in table.itertuples():
        assert r.section in _headings(by_name[r.chapter]), f"{r.id}: no section {r.section!r} in {r.chapter}"
        assert r.href == f"{r.chapter}.html#{cl.section_anchor(r.section)}"
        assert r.verdict in cl.VERDICTS


def test_a_chapter_that_has_not_run_shows_its_claims_as_not_measured(tmp_path):
    table = cl.ledger(root=tmp_path)
    assert len(table) and (table.verdict == cl.UNMEASURED).all() and (table.profile == "").all()
    counts = cl.verdict_counts(table)
    assert counts.loc["none", cl.UNMEASURED] == len(table)


def test_the_ledger_reads_a_chapters_verdicts(tmp_path):
    chapter = next(ch for ch in CHAPTERS if cl.chapter_claims(ch))
    first = next(iter(cl.chapter_claims(chapter).values()))
    (tmp_path / chapter.name).mkdir()
    pd.DataFrame([cl.row(first, cl.PARTLY, "2 of 3", "cpu")]).to_csv(tmp_path / chapter.name / "claims.csv",
                                                                     index=False)
    table = cl.ledger(root=tmp_path).set_index("id")
    assert (table.loc[first.id, "verdict"], table.loc[first.id, "profile"]) == (cl.PARTLY, "cpu")
    assert cl.verdict_counts(table.reset_index()).loc["cpu", cl.PARTLY] == 1
    assert table.loc[first.id, "paper_scale_verdict"] == ""
    pd.DataFrame([cl.row(first, cl.PARTLY, "2 of 3", "cpu/paper", cl.HOLDS, "1 of 1")]).to_csv(
        tmp_path / chapter.name / "claims.csv", index=False)
    table = cl.ledger(root=tmp_path).set_index("id")
    assert (table.loc[first.id, "paper_scale_verdict"], table.loc[first.id, "paper_scale_measured"]) == (
        cl.HOLDS, "1 of 1")
    old = pd.DataFrame([cl.row(first, cl.PARTLY, "2 of 3", "cpu")]).drop(columns=["paper_scale_verdict",
                                                                             "paper_scale_measured"])
    old.to_csv(tmp_path / chapter.name / "claims.csv", index=False)
    assert cl.ledger(root=tmp_path).set_index("id").loc[first.id, "paper_scale_verdict"] == ""


def test_add_paper_scale_repeats_the_verdicts_on_the_paper_rows_alone():
    claim = cl.Claim("x", "bu-vs-td", "S", "paper §1", "TD is better.", "better")
    other = cl.Claim("y", "bu-vs-td", "S", "paper §1", "Something else.", "yes")

    def verdicts(df):  # TD better than BU in how many rows; "y" is never measured
        hits = int((df.td > df.bu).sum())
        return pd.DataFrame([cl.row(claim, cl.ratio_verdict(hits, len(df)), f"{hits} of {len(df)}", "p"),
                             cl.row(other, cl.UNMEASURED, "", "p")], columns=list(cl.COLUMNS))

    df = pd.DataFrame({"bu": [1, 1, 1], "td": [2, 0, 2], "profile": ["paper", "cpu", "paper"]})
    got = cl.add_paper_scale(verdicts(df), df, verdicts).set_index("id")
    assert got.verdict["x"] == cl.PARTLY and got.measured["x"] == "2 of 3"  # the page's verdict is kept
    assert (got.paper_scale_verdict["x"], got.paper_scale_measured["x"]) == (cl.HOLDS, "2 of 2")
    assert got.paper_scale_verdict["y"] == "" and got.paper_scale_measured["y"] == ""  # unmeasured: blank
    none = cl.add_paper_scale(verdicts(df), df.assign(profile="cpu"), verdicts)
    assert (none.paper_scale_verdict == "").all() and list(none.columns) == list(cl.COLUMNS)
    text = cl.markdown(got.reset_index())
    assert "*Paper-scale cells alone:* **holds**. 2 of 2." in text and text.count("Paper-scale") == 1
    with pytest.raises(ValueError, match="unknown verdict"):
        cl.row(claim, cl.HOLDS, "", "cpu", paper_scale_verdict="maybe")
