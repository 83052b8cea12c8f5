"""tdlib.train for Experiment 3: settings, the Keras plateau schedule, cache keys, a tiny segmentation run."""

import json
import math
from pathlib import Path

import pytest
import torch

from tdlib.book.results import config_key
from tdlib.train import PlateauSchedule, TrainConfig, evaluate_segmentation, loss_function, train

RESULTS = Path(__file__).resolve().parents[1] / "data" / "results"


def test_paper_segmentation_settings():
    c = TrainConfig.paper("fashion_mnist_mesh", "td_seg")
    assert (c.epochs, c.lr, c.weight_decay, c.batch_size) == (20, 0.01, 0.0, 128)
    assert (c.schedule, c.loss, c.segmentation) == ("plateau", "weighted_pixel_ce", True)
    assert TrainConfig.paper("fashion_mnist_mesh", "unet", "td").epochs == 20
    with pytest.raises(ValueError, match="needs a segmentation dataset"):
        TrainConfig("mnist", "lenetfc", loss="weighted_pixel_ce")
    with pytest.raises(ValueError, match="step, plateau"):
        TrainConfig("mnist", "lenetfc", schedule="cosine")


def test_new_fields_leave_the_cache_keys_of_earlier_runs_unchanged():
    d = TrainConfig("mnist", "lenetfc").as_dict()
    assert "schedule" not in d and "loss" not in d
    seg = TrainConfig.paper("fashion_mnist_mesh", "fcn").as_dict()
    assert (seg["schedule"], seg["loss"]) == ("plateau", "weighted_pixel_ce")
    stored = sorted((RESULTS / "bu-vs-td" / "train").glob("*.json"))
    if not stored:
        pytest.skip("no cached training results in this checkout")
    for path in stored:
        entry = json.loads(path.read_text())
        widths = entry["config"]["widths"]
        again = TrainConfig(**{**entry["config"], "widths": tuple(widths) if widths else None})
        assert again.as_dict() == entry["config"], path.name
        assert config_key(entry["experiment"], again.as_dict()) == path.stem


def test_plateau_schedule_follows_keras():
    s = PlateauSchedule.paper(0.01)
    assert (s.factor, s.patience, s.min_delta, s.min_lr) == (0.2, 5, 1e-4, pytest.approx(1e-3))
    # an improvement must beat the best by more than min_delta; the 5th epoch without one reduces
    lrs = [s.step(v) for v in [1.0, 0.99995, 1.0, 1.0, 1.0, 1.0]]
    assert lrs == pytest.approx([0.01] * 5 + [0.002])
    assert s.wait == 0 and s.best == 1.0
    assert s.step(0.5) == pytest.approx(0.002) and s.best == 0.5
    lrs = [s.step(0.6) for _ in range(10)]  # down to min_lr, never below
    assert lrs == pytest.approx([0.002] * 4 + [0.001] * 6)


def test_plateau_schedule_is_torch_reduce_on_plateau_with_one_less_patience():
    values = [1.0, 0.9, 0.95, 0.9, 0.91, 0.9, 0.92, 0.93, 0.5, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.4] + [0.4] * 12
    ours = PlateauSchedule.paper(0.01)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.2, patience=4, threshold=1e-4,
                                                     threshold_mode="abs", min_lr=1e-3)
    for v in values:
        ref.step(v)
        assert ours.step(v) == pytest.approx(opt.param_groups[0]["lr"])


TINY = dict(epochs=2, train_subset=40, test_subset=16, batch_size=20)


class _Killed(Exception):
    pass


def test_tiny_segmentation_run_and_resume(fashion_available, tmp_path):
    cfg = TrainConfig.paper("fashion_mnist_mesh", "td_seg", **TINY)
    ref = train(cfg, "cpu", progress=False)
    h = ref.history
    assert list(h.columns) == ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "val_miou"]
    assert h.lr.tolist() == [0.01, 0.01] and h.train_acc.between(0, 1).all() and h.val_acc.between(0, 1).all()
    s = ref.summary()
    assert s["params"] == 1_562_212 and len(s["test_iou"]) == 12 and 0 <= s["test_miou"] <= 1
    assert 0 <= s["test_acc"] <= 1 and math.isfinite(s["test_loss"])

    # the test numbers are evaluate_segmentation's on the same meshes
    from tdlib.data import class_weights, fashion_mnist_mesh, load_mesh_splits

    data = load_mesh_splits(seed=0, train_subset=40, test_subset=16)
    loss_fn = loss_function(cfg, class_weights(fashion_mnist_mesh("train")[1]))
    again = evaluate_segmentation(ref.model, data.x_test, data.y_test, loss_fn, batch_size=5)
    assert again.loss == pytest.approx(ref.test_loss, rel=1e-4) and again.miou == pytest.approx(ref.test_miou)

    # killed after the first epoch and resumed: the uninterrupted run, schedule state included
    ckpt = tmp_path / "run.ckpt"

    def die(row):
        if row["epoch"] == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train(cfg, "cpu", progress=False, on_epoch=die, checkpoint=ckpt)
    assert "plateau" in torch.load(ckpt, weights_only=False)
    res = train(cfg, "cpu", progress=False, checkpoint=ckpt)
    cols = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_miou"]
    assert res.history[cols].equals(h[cols]) and res.test_iou == ref.test_iou
