"""tdlib.experiments.downscale: the grid per profile, the matrices, the claims' verdicts, a tiny cached run."""

import itertools

import numpy as np
import pandas as pd
import pytest

from tdlib.book import claims as cl
from tdlib.book import results
from tdlib.book.chapters import settings
from tdlib.experiments import downscale as exp

SIGMAS = (0.0, 0.6, 1.2)


def _df(acc, datasets=("mnist",), models=("lenetfc",), repeats=2, shares=None):
    """A synthetic :func:`exp.table`: ``acc(dataset, variant, repeat, train_sigma, test_sigma)`` in %."""
    rows = []
    for d, m, v, r, tr, te in itertools.product(datasets, models, ("bu", "td"), range(repeats), SIGMAS, SIGMAS):
        share = shares(v, tr, te) if shares else [0.2] * 5
        rows.append({"dataset": d, "model": m, "variant": v, "repeat": r, "train_sigma": tr, "test_sigma": te,
                     "acc": acc(d, v, r, tr, te), "loss": 0.0, "pred_share": share, "seconds_per_epoch": 1.0,
                     "epochs": 1, "train_subset": None, "profile": "cpu"})
    return pd.DataFrame(rows)


def _verdict(claims, cid):
    return claims.set_index("id").verdict[cid]


def test_profiles_expand_to_the_expected_cells():
    cpu = exp.cell_configs(settings("downscale", "cpu"))
    # LeNetFC 2 repeats on mnist and fashion_mnist, NIN-light 1 on mnist; ResNet32 1; toy LeNetFC 2; x BU/TD x 4 sigmas
    assert len(cpu) == (2 * 2 + 1 + 1 + 2) * 2 * 4
    assert sorted({c.blur_sigma for c in cpu}) == [0.0, 0.6, 1.2, 2.4]
    toy = [c for c in cpu if c.dataset == "toy_cosines"]
    assert toy and all(c.epochs == 10 and c.train_subset is None and c.model == "lenetfc" for c in toy)
    lenet = [c for c in cpu if c.dataset == "mnist" and c.model == "lenetfc"]
    assert all(c.epochs == 2 and c.train_subset == 20_000 for c in lenet) and {c.seed for c in lenet} == {0, 1}
    paper = exp.cell_configs(settings("downscale", "paper"))
    assert all(c.train_subset is None and not c.recalibrate_bn for c in paper)
    cells = {(c.dataset, c.model) for c in paper}
    assert cells >= {("cifar10", "nin"), ("cifar10", "resnet32"), ("mnist", "nin_light")}
    # the plan's keys carry the test sigmas, so a grid with other test levels is a different cell
    key = exp.plan(settings("downscale", "cpu"))[0][1]
    assert key["test_sigmas"] == [0.0, 0.6, 1.2, 2.4] and "blur_sigma" not in key  # 0 is left out, as in Exp. 1's keys
    assert exp.grid_table(settings("downscale", "cpu")).shape[0] == 5


def test_pick_prefers_dataset_model_then_dataset_then_model():
    value = {"toy_cosines/lenetfc": 1, "toy_cosines": 2, "lenetfc": 3}
    assert exp._pick(value, "toy_cosines", "lenetfc") == 1
    assert exp._pick({"toy_cosines": 2, "lenetfc": 3}, "toy_cosines", "lenetfc") == 2
    assert exp._pick({"toy_cosines": None, "lenetfc": 3}, "toy_cosines", "lenetfc") is None
    assert exp._pick({"lenetfc": 3}, "mnist", "lenetfc") == 3
    assert exp._pick(7, "mnist", "lenetfc") == 7


def test_matrix_matched_asymmetry_and_mismatch_on_known_numbers():
    # accuracy falls with |train - test|, more when tested sharper than trained; TD 1 point better off the diagonal
    def acc(d, v, r, tr, te):
        base = 99 - 2 * tr - (10 * (tr - te) if tr > te else 4 * (te - tr))
        return base + (1.0 + 0.5 * r if v == "td" and tr != te else 0.0)

    df = _df(acc)
    m = exp.matrix(df, "mnist", "lenetfc", "bu")
    assert m.shape == (3, 3) and m.loc[1.2, 0.0] == pytest.approx(99 - 2.4 - 12)
    diag = exp.matched(df)
    bu = diag[diag.variant == "bu"].set_index("sigma")
    assert bu.loss_from_original.tolist() == pytest.approx([0.0, 1.2, 2.4])
    asym = exp.asymmetry(df).set_index("variant")
    assert (asym.gap > 0).all()  # sharp -> blurred is better than blurred -> sharp
    mis = exp.mismatch(df).iloc[0]
    assert mis.td_minus_bu == pytest.approx(1.25) and mis.spread == pytest.approx(np.std([1.0, 1.5], ddof=1))
    assert (mis.td_better_cells, mis.off_cells) == (6, 6) and mis.td_minus_bu_matched == pytest.approx(0.0)


@pytest.mark.parametrize("case", ["holds", "fails", "partly"])
def test_claim_verdicts_follow_the_numbers(case):
    def acc(d, v, r, tr, te):
        loss = {"holds": 1.0, "fails": 5.0, "partly": 1.0 if d != "cifar10" else 5.0}[case]
        asym = 10 * (tr - te) if tr > te else 4 * (te - tr)
        if case == "fails":
            asym = 4 * (tr - te) if tr > te else 10 * (te - tr)
        td = {"holds": 1.0, "fails": -1.0, "partly": 1.0 if d != "cifar10" else -1.0}[case]
        return 95 - loss * tr - asym + (td if v == "td" and tr != te else 0.0)

    df = _df(acc, datasets=("mnist", "fashion_mnist", "cifar10"))
    claims = exp.claims(df, "cpu")
    assert set(claims.id) == {"downscale-matched", "downscale-difficulty", "downscale-asymmetry",
                              "downscale-td-mismatch", "toy-bu-td", "toy-drift"}
    want = {"holds": cl.HOLDS, "fails": cl.FAILS, "partly": cl.PARTLY}[case]
    assert _verdict(claims, "downscale-td-mismatch") == want
    if case != "partly":
        assert _verdict(claims, "downscale-matched") == want
        assert _verdict(claims, "downscale-asymmetry") == want
    assert _verdict(claims, "toy-drift") == cl.UNMEASURED and _verdict(claims, "toy-bu-td") == cl.UNMEASURED
    assert (claims.profile == "cpu").all()


def test_toy_claims_read_the_prediction_shares():
    def shares(v, tr, te):  # predictions pile up on class 0 as the test blur grows
        p0 = 0.2 + te / 2
        return [p0] + [(1 - p0) / 4] * 4

    toy = _df(lambda d, v, r, tr, te: 90 - 10 * te + (5 if v == "td" else 0), datasets=("toy_cosines",),
              shares=shares)
    claims = exp.claims(toy, "cpu")
    assert _verdict(claims, "toy-drift") == cl.HOLDS
    assert _verdict(claims, "toy-bu-td") == cl.FAILS  # 5 points everywhere is a major difference
    assert _verdict(claims, "downscale-matched") == cl.UNMEASURED
    drift = exp.drift(toy)
    first = drift[(drift.variant == "bu") & (drift.train_sigma == 0)].sort_values("test_sigma")
    assert first.share.tolist() == pytest.approx([20.0, 50.0, 80.0])
    shares_long = exp.prediction_shares(toy)
    total = shares_long.groupby(["model", "variant", "test_sigma"]).share.sum()
    assert total.to_numpy() == pytest.approx(100.0)


def test_run_cell_trains_once_and_stores_the_whole_row(tmp_path, monkeypatch):
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    s = {"datasets": ["toy_cosines"], "models": {"toy_cosines": ["lenetfc"]}, "variants": ["bu"], "levels": 2,
         "sigma0": 1.2, "repeats": 1, "epochs": 1, "train_subset": 100, "test_subset": 50, "recalibrate_bn": False}
    config = exp.cell_configs(s)[1]
    assert config.blur_sigma == 1.2
    calls = []
    real = exp.train

    def recording(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(exp, "train", recording)
    entry = exp.run_cell(config, exp.sigmas(s), "smoke", device="cpu", progress=False)
    assert len(calls) == 1
    tests = entry.result["tests"]
    assert [t["test_sigma"] for t in tests] == [0.0, 1.2]
    assert sum(tests[1]["pred_counts"]) == 50
    # the row at the training sigma is train()'s own test accuracy
    assert tests[1]["test_acc"] == pytest.approx(entry.result["summary"]["test_acc"])
    monkeypatch.setattr(exp, "train", lambda *a, **k: pytest.fail("a cached cell is trained again"))
    again = exp.run_cell(config, exp.sigmas(s), "smoke", device="cpu", progress=False)
    assert again.result["tests"] == tests
    df = exp.table(results.entries("downscale", root=tmp_path))
    assert len(df) == 2 and set(df.train_sigma) == {1.2} and df.profile.eq("smoke").all()
