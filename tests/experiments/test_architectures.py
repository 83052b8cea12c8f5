"""tdlib.experiments.architectures: the claims' verdicts from Table 1 and the merge costs."""

import pandas as pd

from tdlib.book import claims as cl
from tdlib.experiments import architectures as exp


def _table1(rows):
    """Rows (model, variant, ours, code, paper, paper_variant) as :func:`tdlib.nets.params.table1` gives them."""
    df = pd.DataFrame(rows, columns=["model", "variant", "ours", "code", "paper", "paper_variant"])
    df["ours_eq_code"] = df.ours == df.code
    df["paper_eq_code"] = df.paper == df.code
    return df


def _costs(add, concat, add_concat):
    rows = [{"model": "nin_light", "paper_name": "NIN", "variant": "BU", "merge": "-", "params": 100}]
    rows += [{"model": "nin_light", "paper_name": "NIN", "variant": v, "merge": m, "params": p}
             for v in ("TD", "TDrev") for m, p in (("add", add), ("concat", concat), ("add_concat", add_concat))]
    return pd.DataFrame(rows)


def test_claims_follow_the_counts():
    t1 = _table1([("NIN", "BU", 10, 10, 10, None), ("NIN", "TD", 20, 20, 22, 22.0), ("NIN", "TDuni", 30, 30, 30, None),
                  ("NIN", "TDrev", 40, 40, 40, None)])
    claims = exp.claims(t1, _costs(150, 200, 200), "cpu")
    assert claims.id.tolist() == list(exp.CLAIMS) and claims.verdict.isin(cl.VERDICTS).all()
    assert list(claims.columns) == list(cl.COLUMNS) and set(claims.profile) == {"cpu"}
    got = claims.set_index("id")
    assert got.verdict.to_dict() == {"arch-table1": cl.PARTLY, "arch-merge-params": cl.HOLDS}
    assert got.measured["arch-table1"].startswith("ours = paper in 3 of 4 counts; ours = the authors' code in 4 of 4")
    assert "NIN TD by +2" in got.measured["arch-table1"] and "reproduce 1 of those 1" in got.measured["arch-table1"]
    assert "equal parameter counts in 2 of 2" in got.measured["arch-merge-params"]
    # the paper's counts all reproduced; add no cheaper and concat unequal to add_concat: the verdicts flip
    t1.loc[1, ["ours", "code"]] = 22
    flipped = exp.claims(_table1(t1[["model", "variant", "ours", "code", "paper", "paper_variant"]]),
                         _costs(250, 200, 210), "cpu").set_index("id").verdict
    assert flipped.to_dict() == {"arch-table1": cl.HOLDS, "arch-merge-params": cl.FAILS}


def test_claims_list_every_claim_once_even_without_tables():
    empty = exp.claims(_table1([]), None, "smoke")
    assert empty.id.tolist() == list(exp.CLAIMS) and empty.id.is_unique
    assert (empty.verdict == cl.UNMEASURED).all()
    assert all(c.chapter == exp.CHAPTER for c in exp.CLAIMS.values())
