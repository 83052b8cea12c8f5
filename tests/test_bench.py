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


def test_segmentation_bench_measures_the_three_networks_td_against_the_unet():
    df = run_bench(models=["unet", "fcn", "td_seg"], variants=["bu", "td"], modes=["infer"], device="cpu",
                   infer_batch=2, min_seconds=0.02)
    assert df.model.tolist() == ["unet", "unet", "fcn", "td_seg"]  # fcn and td_seg have no TD variant
    assert (df.images_per_s > 0).all()
    rows = df.set_index(["model", "variant"])
    # the TD segmentation network is the U-net's TD twin: the same network by either name, ratios against the U-net
    assert rows.flops_per_image["td_seg", "bu"] == rows.flops_per_image["unet", "td"]
    assert rows.td_bu_flops_ratio["td_seg", "bu"] == pytest.approx(
        rows.flops_per_image["td_seg", "bu"] / rows.flops_per_image["unet", "bu"])
    assert 1.0 < rows.td_bu_flops_ratio["td_seg", "bu"] < 1.2
    assert rows.flops_per_image["fcn", "bu"] < rows.flops_per_image["unet", "bu"]


def test_segmentation_flops_count_the_convolutions():
    from tdlib.nets.segmentation import seg_encoder_spec  # noqa: F401  (registers the networks)

    x = torch.rand(2, 1, 56, 56)
    enc = (56 * 56 * (9 * 1 * 64 + 9 * 64 * 64) + 28 * 28 * (9 * 64 * 128 + 9 * 128 * 128)
           + 14 * 14 * (9 * 128 * 256 + 9 * 256 * 256))
    scores = 7 * 7 * 256 * 12 + 14 * 14 * 128 * 12 + 28 * 28 * 64 * 12
    assert flops_per_image(get_model("fcn"), x, train=False) == 2 * (enc + scores)


def test_bench_cli_segmentation(capsys):
    assert main(["bench", "--segmentation", "--models", "fcn", "--modes", "infer", "--train-batch", "2",
                 "--seconds", "0.02", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("fcn,bu,infer,2,")


def test_gradcam_bench_rows(capsys):
    from tdlib.bench import run_gradcam_bench
    from tdlib.data import DatasetNotFoundError

    try:
        df = run_gradcam_bench(["lenetfc"], ["bu", "td"], images=8, batch_size=4, device="cpu")
    except DatasetNotFoundError as e:
        pytest.skip(f"MNIST not available offline: {str(e)[:200]}")
    bu, td = df[df.variant == "bu"], df[df.variant == "td"]
    assert len(bu) == 4 + 2 and len(td) == 10 + 2  # every layer, then all at once and the sum
    assert (df.images_per_s > 0).all() and (df.images == 8).all()
    assert set(bu.paper) == {"act_1", "act_2", "act_3", "act_4", ""}
    assert main(["bench", "--gradcam", "--models", "lenetfc", "--variants", "bu", "--images", "4", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "images_per_s" in lines[0].split(",") and len(lines) == 1 + 4 + 2
