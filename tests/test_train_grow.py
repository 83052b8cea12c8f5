"""Progressive growing through the training engine: configuration, history, frozen layers, resume."""

import pytest
import torch

from tdlib.nets import count_parameters
from tdlib.train import TrainConfig, build_model, train

TINY = dict(epochs=3, train_subset=256, test_subset=64)  # 230 training images: 2 batches per epoch


def test_cache_keys_are_unchanged_at_the_defaults():
    base = TrainConfig("mnist", "lenetfc", "td", **TINY)
    assert base.as_dict() == TrainConfig("mnist", "lenetfc", "td", grow="none", grow_fade=0.5, **TINY).as_dict()
    assert "grow" not in base.as_dict() and "grow_fade" not in base.as_dict()
    assert set(base.as_dict()) == {"dataset", "model", "variant", "epochs", "lr", "weight_decay", "batch_size", "seed",
                                   "val_fraction", "train_subset", "test_subset", "widths", "recalibrate_bn"}
    grown = TrainConfig("mnist", "lenetfc", "td", grow="frozen", **TINY).as_dict()
    assert grown == {**base.as_dict(), "grow": "frozen"}
    faded = TrainConfig("mnist", "lenetfc", "td", grow="trainable", grow_fade=1, **TINY)
    assert faded.grow_fade == 1.0 and faded.as_dict() == {**base.as_dict(), "grow": "trainable", "grow_fade": 1.0}


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(variant="bu", grow="trainable"), "TD variants only"),
    (dict(grow="yes"), "unknown grow"),
    (dict(grow="frozen", grow_fade=1.5), "grow_fade"),
    (dict(grow="frozen", grow_fade=True), "grow_fade"),
    (dict(grow_fade=0.2), "only with grow"),
])
def test_config_errors(kwargs, match):
    cfg = {"variant": "td", **kwargs}
    with pytest.raises(ValueError, match=match):
        TrainConfig("mnist", "lenetfc", **cfg)


def _snapshot_after_each_epoch(ckpt, snapshots):
    """An ``on_epoch`` that keeps the model of each checkpoint (saved before ``on_epoch`` is called)."""
    def on_epoch(row):
        if ckpt.is_file():
            snapshots[row["epoch"]] = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
    return on_epoch


@pytest.mark.parametrize("regime", ["trainable", "frozen"])
def test_a_growing_run_records_its_stages(mnist_available, tmp_path, regime):
    cfg = TrainConfig("mnist", "lenetfc", "td", grow=regime, grow_fade=1.0, **TINY)
    ckpt, snaps = tmp_path / "run.ckpt", {}
    res = train(cfg, "cpu", progress=False, checkpoint=ckpt, on_epoch=_snapshot_after_each_epoch(ckpt, snaps))
    h = res.history
    assert h.stage.tolist() == [1, 2, 3] and h.alpha.tolist() == [1.0, 1.0, 1.0]
    assert h.lr.tolist() == pytest.approx([0.1, 0.1, 0.01])  # the whole run's step schedule
    # 2 batches per epoch, the whole stage fading: alpha 0.5 then 1 in stages 2 and 3
    assert res.curve.stage.tolist() == [1, 1, 2, 2, 3, 3]
    assert res.curve.alpha.tolist() == [1.0, 1.0, 0.5, 1.0, 0.5, 1.0]
    # the returned network is the plain one: every parameter trainable, no hooks
    assert all(p.requires_grad for p in res.model.parameters())
    assert res.params == count_parameters(build_model(cfg))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in res.model.modules())
    final = res.model.state_dict()
    for epoch, frozen in ((1, "steps.0."), (2, "steps.1.")):
        keys = [k for k in final if k.startswith(frozen)]
        assert keys
        same = all(torch.equal(final[k], snaps[epoch][k]) for k in keys)  # weights and BN statistics
        assert same == (regime == "frozen"), (epoch, frozen)
    head = [k for k in final if k.startswith("head.")]
    assert head and not any(torch.equal(final[k], snaps[2][k]) for k in head)  # the head trains throughout


def test_plain_runs_have_no_growth_columns(mnist_available):
    res = train(TrainConfig("mnist", "lenetfc", "td", epochs=1, train_subset=128, test_subset=32), "cpu",
                progress=False)
    assert "stage" not in res.history and "alpha" not in res.history and "stage" not in res.curve


def test_growth_needs_an_epoch_per_stage(mnist_available):
    with pytest.raises(ValueError, match="at least 3 epochs"):
        train(TrainConfig("mnist", "lenetfc", "td", epochs=2, grow="trainable", train_subset=128, test_subset=32),
              "cpu", progress=False)


class _Killed(Exception):
    pass


def test_resume_across_a_stage_boundary(mnist_available, tmp_path):
    cfg = TrainConfig("mnist", "lenetfc", "td", grow="frozen", grow_fade=1.0, seed=2, **TINY)
    ref = train(cfg, "cpu", progress=False)
    ckpt = tmp_path / "run.ckpt"

    def die_after_one(row):
        if row["epoch"] == 1:
            raise _Killed

    with pytest.raises(_Killed):
        train(cfg, "cpu", progress=False, on_epoch=die_after_one, checkpoint=ckpt)
    epochs_run = []
    res = train(cfg, "cpu", progress=False, checkpoint=ckpt, on_epoch=lambda row: epochs_run.append(row["epoch"]))
    assert epochs_run == [2, 3]  # stage 2 and 3 after resuming at the end of stage 1
    cols = ["epoch", "lr", "stage", "alpha", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert res.history[cols].equals(ref.history[cols])
    assert res.curve.equals(ref.curve) and res.test_acc == ref.test_acc
    for (k, va), vb in zip(ref.model.state_dict().items(), res.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
