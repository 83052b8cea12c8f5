"""The benchmark produces real measurements (tiny settings: seconds, not a speed test)."""

import pytest
import torch

from tdlib.bench import flops_per_image, format_bench, run_bench
from tdlib.cli import main
from tdlib.nets import get_model


def test_flops_per_image_matches_hand_count():
    model = get_model("lenetfc")
    x = torch.rand(2, 1, 28, 28)
    macs = 28 * 28 * 25 * 6 + 14 * 14 * 25 * 6 * 16 + 7 * 7 * 9 * 16 * 32 + 7 * 7 * 32 * 10
    assert flops_per_image(model, x, train=False) == 2 * macs


def test_run_bench_rows_and_ratios():
    df = run_bench(models=["lenetfc"], variants=["bu", "td"], modes=["train", "infer"], device="cpu",
                   train_batch=8, infer_batch=16, min_seconds=0.05)
    assert len(df) == 4
    assert (df.images_per_s > 0).all() and (df.gflop_per_s > 0).all()
    bu = df[df.variant == "bu"]
    assert (bu.td_bu_time_ratio == 1).all() and (bu.td_bu_flops_ratio == 1).all()
    td_train = df[(df.variant == "td") & (df["mode"] == "train")].iloc[0]
    assert 3 < td_train.td_bu_flops_ratio < 6  # LeNetFC TD does about 4x the BU's work
    assert not any("keras" in c or "target" in c for c in df.columns)  # no figures from another machine
    text = format_bench(df)
    assert "lenetfc" in text and "GFLOP/s" in text and "TD/BU" in text
    assert "Keras" not in text and "target" not in text


def test_bench_cli_csv(capsys):
    assert main(["bench", "--models", "lenetfc", "--variants", "bu", "--modes", "infer", "--infer-batch", "8",
                 "--seconds", "0.05", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split(",")
    for col in ("model", "variant", "mode", "batch", "images_per_s", "gflop_per_s"):
        assert col in header
    assert len(lines) == 2


def test_bench_unknown_model_is_an_error(capsys):
    assert main(["bench", "--models", "alexnet"]) == 2
    assert "unknown model 'alexnet'" in capsys.readouterr().err


def test_attack_bench_reports_speed_and_queries_per_attack():
    from tdlib.bench import run_attack_bench
    from tdlib.data import DatasetNotFoundError

    try:
        df = run_attack_bench(["lenetfc"], ["bu"], ["contrast_reduction", "additive_uniform"], images=8, repeats=2,
                              device="cpu")
    except DatasetNotFoundError:
        pytest.skip("MNIST not available offline")
    assert df.attack.tolist() == ["contrast_reduction", "additive_uniform"]
    assert df.runs.tolist() == [1, 2]  # deterministic attacks run once
    assert (df.images_per_s > 0).all() and (df.forward_per_image >= 1).all()
