"""tdlib.train: schedule, Keras weight decay, determinism, weights on disk."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tdlib.nets import get_model
from tdlib.speed import prepare_training
from tdlib.train import (
    TrainConfig,
    evaluate,
    load_weights,
    lr_at,
    make_optimizer,
    paper_epochs,
    parameter_groups,
    recalibrate_batchnorm,
    save_weights,
    train,
    train_step,
)


@pytest.mark.parametrize("epochs, drops", [(30, (15, 24)), (40, (20, 32)), (50, (25, 40)), (100, (50, 80)),
                                           (200, (100, 160)), (3, (2, 3))])
def test_lr_schedule_divides_by_ten_at_half_and_four_fifths(epochs, drops):
    lrs = [lr_at(e, epochs, 0.1) for e in range(epochs)]
    first, second = drops
    assert all(math.isclose(lr, 0.1) for lr in lrs[:first])
    assert all(math.isclose(lr, 0.01) for lr in lrs[first:second])
    assert all(math.isclose(lr, 0.001) for lr in lrs[second:])


def test_lr_schedule_single_epoch_keeps_initial_rate():
    assert lr_at(0, 1, 0.1) == 0.1


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))


def test_weight_decay_equals_keras_l2_gradient():
    """One plain SGD step with our groups equals a step on CE + wd * sum(kernel**2) (Keras L2)."""
    torch.manual_seed(0)
    wd, lr = 5e-4, 0.1
    x, y = torch.randn(8, 1, 6, 6), torch.randint(0, 3, (8,))
    a, b = Toy(), Toy()
    b.load_state_dict(a.state_dict())

    opt = make_optimizer(a, lr=lr, momentum=0.0, nesterov=False, weight_decay=wd)
    opt.zero_grad()
    F.cross_entropy(a(x), y).backward()
    opt.step()

    loss = F.cross_entropy(b(x), y) + wd * (b.conv.weight.pow(2).sum() + b.fc.weight.pow(2).sum())
    loss.backward()
    with torch.no_grad():
        for p in b.parameters():
            p -= lr * p.grad
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-7, msg=name)


def test_weight_decay_groups_skip_biases_batchnorm_and_excluded_kernels():
    m = Toy()
    decay, rest = parameter_groups(m, 1e-4, exclude=("fc.",))
    assert decay["weight_decay"] == pytest.approx(2e-4) and rest["weight_decay"] == 0
    assert {id(p) for p in decay["params"]} == {id(m.conv.weight)}
    assert len(rest["params"]) == 5


def test_paper_settings():
    assert paper_epochs("mnist", "lenetfc", "bu") == 50 and paper_epochs("mnist", "lenetfc", "rev") == 30
    c = TrainConfig.paper("cifar10_aug", "resnet32", "td")
    assert (c.epochs, c.weight_decay, c.augment) == (200, 1e-4, True)
    assert TrainConfig.paper("cifar10", "nin").weight_decay == 5e-4
    with pytest.raises(ValueError, match="known cells"):
        paper_epochs("mnist", "resnet32", "bu")
    with pytest.raises(ValueError, match="expected one of mnist, fashion_mnist, cifar10, cifar10_aug"):
        TrainConfig("svhn", "lenetfc")


@pytest.mark.parametrize("name", ["lenetfc", "nin_light"])
def test_fast_evaluation_equals_the_eval_mode_model_and_changes_nothing(name):
    """The folded, channels-last inference copy scores as the plain eval-mode network."""
    torch.manual_seed(0)
    x = torch.rand(768, 1, 28, 28)
    y = (x[:, :, :14].mean((1, 2, 3)) > x[:, :, 14:].mean((1, 2, 3))).long()  # a learnable label
    model = get_model(name, "td")
    channels_last = prepare_training(model)
    opt = make_optimizer(model, lr=0.1)
    model.train()
    for i in list(range(0, 512, 64)) * 2:
        xb = x[i : i + 64].contiguous(memory_format=torch.channels_last) if channels_last else x[i : i + 64]
        train_step(model, opt, xb, y[i : i + 64])
    recalibrate_batchnorm(model, x[:512], channels_last=channels_last)  # a usable eval-mode network
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast_loss, fast_acc = evaluate(model, x[512:], y[512:], batch_size=100)
    assert model.training, "the caller's mode is kept"
    plain_loss, plain_acc = evaluate(model, x[512:], y[512:], batch_size=100, fast=False)
    assert model.training
    assert fast_acc == plain_acc > 0.55 and abs(fast_loss - plain_loss) < 1e-5
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "the caller's weights are kept"


TINY = dict(epochs=2, train_subset=300, test_subset=100)


def test_same_seed_same_result_on_cpu(mnist_available):
    cfg = TrainConfig("mnist", "lenetfc", "td", seed=3, **TINY)
    a, b = train(cfg, "cpu", progress=False), train(cfg, "cpu", progress=False)
    cols = ["lr", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert a.history[cols].equals(b.history[cols])
    assert a.test_acc == b.test_acc
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    c = train(TrainConfig("mnist", "lenetfc", "td", seed=4, **TINY), "cpu", progress=False)
    assert c.history.train_loss.tolist() != a.history.train_loss.tolist()


def test_history_records_every_epoch_and_split_sizes(mnist_available):
    res = train(TrainConfig("mnist", "lenetfc", "bu", epochs=3, train_subset=300, test_subset=100), "cpu",
                progress=False)
    h = res.history
    assert h.epoch.tolist() == [1, 2, 3] and h.lr.tolist() == pytest.approx([0.1, 0.1, 0.01])
    assert (h.seconds > 0).all() and h.val_acc.between(0, 1).all()
    c = res.curve
    batches = math.ceil(270 / 128)  # 300 images, 10% for validation
    assert len(c) == 3 * min(10, batches) and c.epoch.iloc[-1] == pytest.approx(3.0) and c.epoch.is_monotonic_increasing
    assert c.train_acc.between(0, 1).all()
    s = res.summary()
    assert s["params"] == 7670 and 0 <= s["test_acc"] <= 1 and s["repeat"] == 0


def test_augmented_cifar_and_wide_td_train(tmp_path):
    from tdlib.data import DatasetNotFoundError, load_arrays

    try:
        load_arrays("cifar10", train=False, download=False)
    except DatasetNotFoundError:
        pytest.skip("CIFAR-10 not available offline")
    cfg = TrainConfig("cifar10_aug", "resnet32", "td", epochs=1, train_subset=64, test_subset=32, widths=(64, 32, 32),
                      weight_decay=1e-4)
    res = train(cfg, "cpu", progress=False)
    assert res.params == 609_322  # ResNet32 TD (528,042) with a 32-filter last block
    path = save_weights(res.model, tmp_path / "w.pt", half=True)
    back = load_weights(cfg, path)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(back(x), res.model(x), rtol=0.05, atol=0.05)


def test_checkpoint_within_an_epoch_resumes_to_the_uninterrupted_result(cifar_available, tmp_path, monkeypatch):
    # augmentation (its own generator), dropout (the global one), BatchNorm, and the curve's
    # running sums: a run killed in the middle of its second epoch resumes from a checkpoint
    # saved within that epoch and ends exactly as the uninterrupted run
    import tdlib.train as tt
    from tdlib.book.results import read_checkpoint

    cfg = TrainConfig("cifar10_aug", "nin_light", "bu", epochs=2, seed=3, train_subset=330, test_subset=64,
                      batch_size=64)
    ref = train(cfg, "cpu", progress=False, points_per_epoch=2)
    ckpt, calls, step = tmp_path / "run.ckpt", [], tt.train_step

    def dies_on_the_eighth(*args, **kwargs):  # 5 batches per epoch: killed at the 3rd of epoch 2
        calls.append(1)
        if len(calls) == 8:
            raise _Killed
        return step(*args, **kwargs)

    monkeypatch.setattr(tt, "train_step", dies_on_the_eighth)
    with pytest.raises(_Killed):  # checkpoint_every=0: saved after every batch
        train(cfg, "cpu", progress=False, points_per_epoch=2, checkpoint=ckpt, checkpoint_every=0)
    found = read_checkpoint(ckpt)
    assert (found.config, found.epochs_done) == (cfg.as_dict(), 1.4)  # 2 of the 5 batches of epoch 2 done
    assert found.seconds_per_epoch > 0, "epoch 1 is finished and timed"
    monkeypatch.setattr(tt, "train_step", step)
    res = train(cfg, "cpu", progress=False, points_per_epoch=2, checkpoint=ckpt, checkpoint_every=None)
    assert not ckpt.exists()
    _assert_same_run(res, ref)


@pytest.mark.parametrize("at", [5, 6])  # 3 batches per epoch: within epoch 2, and after its last batch
def test_a_stop_request_saves_the_state_and_the_resumed_run_ends_as_the_uninterrupted_one(mnist_available,
                                                                                         tmp_path, at):
    from tdlib.book.results import read_checkpoint
    from tdlib.train import TrainingStopped

    cfg = TrainConfig("mnist", "nin_light", "bu", epochs=3, seed=1, train_subset=300, test_subset=100)
    ref = train(cfg, "cpu", progress=False)
    ckpt, asked = tmp_path / "run.ckpt", []

    def stop_at() -> bool:  # asked once after every batch
        asked.append(1)
        return len(asked) >= at

    with pytest.raises(ValueError, match="needs a checkpoint"):
        train(cfg, "cpu", progress=False, stop=stop_at)
    with pytest.raises(TrainingStopped, match="stopped on request") as stopped:
        train(cfg, "cpu", progress=False, checkpoint=ckpt, checkpoint_every=None, stop=stop_at)
    assert len(asked) == at, "it stops at the batch that asked"
    done = 1 + (at - 3) / 3
    assert read_checkpoint(ckpt).epochs_done == pytest.approx(done, abs=0.01)
    assert stopped.value.epochs_done == pytest.approx(done) and stopped.value.checkpoint == ckpt
    res = train(cfg, "cpu", progress=False, checkpoint=ckpt, stop=lambda: False)
    assert not ckpt.exists()
    _assert_same_run(res, ref)


def test_weights_round_trip_exactly(tmp_path):
    cfg = TrainConfig("mnist", "nin_light", "rev")
    from tdlib.train import build_model

    torch.manual_seed(0)
    model = build_model(cfg).eval()
    path = save_weights(model, tmp_path / "sub" / "w.pt")
    assert not list(path.parent.glob("*.tmp"))
    back = load_weights(cfg, path)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_recalibrate_batchnorm_sets_running_stats_to_the_data_statistics():
    torch.manual_seed(0)
    m = Toy()
    x = torch.randn(64, 1, 6, 6) * 3 + 1
    recalibrate_batchnorm(m.eval(), x, batch_size=64)
    assert not m.training, "the mode is restored"
    conv_out = m.conv(x)
    torch.testing.assert_close(m.bn.running_mean, conv_out.mean((0, 2, 3)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m.bn.running_var, conv_out.var((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert m.bn.momentum == 0.1, "the momentum is restored"


class _Killed(Exception):
    pass


def _assert_same_run(res, ref):
    """A resumed run ended exactly as the uninterrupted one: history, curve, test accuracy, weights."""
    cols = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert res.history[cols].equals(ref.history[cols])
    assert res.curve.equals(ref.curve) and res.test_acc == ref.test_acc
    for (k, va), vb in zip(ref.model.state_dict().items(), res.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_checkpoint_resumes_to_the_uninterrupted_result(mnist_available, tmp_path):
    # NIN-light has dropout (the global generator) and BatchNorm (recalibrated at the end)
    cfg = TrainConfig("mnist", "nin_light", "bu", epochs=3, seed=1, train_subset=300, test_subset=100,
                      recalibrate_bn=True)
    ref = train(cfg, "cpu", progress=False)
    ckpt = tmp_path / "run.ckpt"

    def die_after_two(row):
        if row["epoch"] == 2:
            raise _Killed

    with pytest.raises(_Killed):
        train(cfg, "cpu", progress=False, on_epoch=die_after_two, checkpoint=ckpt)
    assert ckpt.is_file() and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match="another run"):
        train(TrainConfig("mnist", "nin_light", "bu", epochs=3, seed=2, train_subset=300, test_subset=100), "cpu",
              progress=False, checkpoint=ckpt)
    epochs_run = []
    res = train(cfg, "cpu", progress=False, checkpoint=ckpt, on_epoch=lambda row: epochs_run.append(row["epoch"]))
    assert epochs_run == [3]  # only the missing epoch was trained
    assert not ckpt.exists()
    _assert_same_run(res, ref)
