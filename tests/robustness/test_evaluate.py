"""tdlib.robustness.evaluate and ablation: worst of repeats, the curve, summaries, the per-scale feeds."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from tdlib import get_model
from tdlib.robustness import (
    Attack,
    AttackOutput,
    Classifier,
    accuracy_loss_curve,
    feeds,
    minimal_l2,
    per_scale_ablation,
    summarize,
)
from tdlib.robustness.model import MeanSubtracted


class Scripted(Attack):
    """Returns, run after run, given per-sample perturbation sizes (inf: failure)."""

    name = "scripted"

    def __init__(self, sizes: list[list[float]]) -> None:
        self.sizes, self.calls = sizes, 0

    def run(self, clf, x, y, generator):
        s = torch.tensor(self.sizes[self.calls], dtype=x.dtype)
        self.calls += 1
        ok = torch.isfinite(s)
        delta = torch.zeros_like(x)
        delta[:, 0, 0, 0] = torch.where(ok, s, torch.zeros_like(s))  # L2 of a one-pixel change = its size
        return AttackOutput(x + delta, ok)


class Fixed(nn.Module):
    """Predicts the labels it was given (all samples correct), except those in ``wrong``."""

    def __init__(self, labels, wrong=()):
        super().__init__()
        self.labels, self.wrong = labels, set(wrong)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        # identify samples by their untouched pixel (1, 1)
        idx = (x[:, 0, 1, 1] * 100).round().long()
        out = torch.zeros(x.shape[0], 10)
        lab = self.labels[idx].clone()
        for i, k in enumerate(idx.tolist()):
            if k in self.wrong:
                lab[i] = (lab[i] + 1) % 10
        out[torch.arange(x.shape[0]), lab] = 1.0
        return out + 0 * self.dummy


def _data(n=4):
    x = torch.zeros(n, 1, 4, 4)
    x[:, 0, 1, 1] = torch.arange(n) / 100
    return x, torch.arange(n) % 10


def test_worst_of_repeats_keeps_the_smallest_success_per_sample():
    x, y = _data(4)
    atk = Scripted([[0.5, math.inf, 0.3, math.inf], [0.2, math.inf, 0.4, math.inf], [0.7, 0.9, 0.35, math.inf]])
    res = minimal_l2(Fixed(y), x, y, atk, repeats=3)
    assert atk.calls == 3
    torch.testing.assert_close(res.l2, torch.tensor([0.2, 0.9, 0.3, math.inf]))
    assert res.success.tolist() == [True, True, True, False]
    torch.testing.assert_close((res.adversarials - x)[:, 0, 0, 0], torch.tensor([0.2, 0.9, 0.3, 0.0]))


def test_misclassified_samples_get_zero_and_are_not_attacked():
    x, y = _data(4)
    atk = Scripted([[0.5, 0.6, 0.7]])  # only the 3 correct samples reach the attack
    res = minimal_l2(Fixed(y, wrong={1}), x, y, atk, repeats=1)
    torch.testing.assert_close(res.l2, torch.tensor([0.5, 0.0, 0.6, 0.7]))
    assert res.clean_correct.tolist() == [True, False, True, True]


def test_deterministic_attacks_run_once():
    x, y = _data(2)
    atk = Scripted([[0.5, 0.5]])
    atk.deterministic = True
    assert minimal_l2(Fixed(y), x, y, atk, repeats=3).runs == 1 and atk.calls == 1


def test_curve_arithmetic_on_a_hand_made_vector():
    l2 = torch.tensor([0.0, 1.0, math.inf, 0.5, 2.0, 0.0, math.inf, 1.0, 3.0, 0.5])  # N = 10, 8 correct
    c = accuracy_loss_curve(l2)
    assert c.l2_bound.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0, 2.0, 3.0]
    assert c.accuracy.iloc[0] == pytest.approx(80.0)
    assert c.accuracy_lost_points.tolist() == pytest.approx([0, 10, 20, 30, 40, 50, 60])  # of all 10 samples
    s = summarize(l2, (0.5, 1.0))
    assert s["clean_acc"] == 80 and s["success_rate"] == pytest.approx(75.0) and s["median_l2"] == 1.0
    assert s["robust_acc@0.5"] == pytest.approx(60.0) and s["robust_acc@1"] == pytest.approx(40.0)
    # step curve: 0 points on [0, 0.5), 20 on [0.5, 1), then 40 at 1.0 -> area up to 1 = 0.5 * 20 = 10
    assert s["area"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match=">= 0"):
        accuracy_loss_curve(torch.tensor([-1.0]))


def test_bad_images_give_clear_errors():
    model = get_model("lenetfc").eval()
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        minimal_l2(model, torch.full((2, 1, 28, 28), 2.0), y, "contrast_reduction")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        minimal_l2(model, torch.rand(28, 28), y, "contrast_reduction")
    with pytest.raises(ValueError, match="labels"):
        minimal_l2(model, torch.rand(2, 1, 28, 28), torch.zeros(3, dtype=torch.long), "contrast_reduction")


def test_mean_is_subtracted_inside():
    class Echo(nn.Module):
        def forward(self, x):
            return x.flatten(1)

    mean = torch.full((1, 2, 2), 0.25)
    out = Classifier(Echo(), mean).logits(torch.full((1, 1, 2, 2), 0.5))
    torch.testing.assert_close(out, torch.full((1, 4), 0.25))
    per_scale = MeanSubtracted(nn.Identity(), mean)([torch.ones(1, 1, 2, 2)] * 2)
    assert isinstance(per_scale, list) and float(per_scale[1].mean()) == 0.75


def test_feeds_follow_the_original_order():
    names = [n for n, _ in feeds(3)]
    assert names == ["single-input, clean", "all clean", "high", "medium", "low", "high+medium", "high+low",
                     "medium+low", "high+medium+low"]


def test_per_scale_ablation_feeds(mnist_trained):
    td, x, y = mnist_trained["td"], mnist_trained["x"], mnist_trained["y"]
    noise = (x + 0.8 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    df = per_scale_ablation(td, x, noise, y)
    assert isinstance(df, pd.DataFrame) and df.feed.tolist() == list(range(9))
    acc = df.set_index("feed").accuracy
    assert acc[0] == 100.0 and acc[1] == pytest.approx(acc[0])  # the twin with clean inputs = the network
    assert acc[8] < 100.0  # perturbing every input changes some predictions
    with torch.no_grad():
        direct = (td(noise).argmax(1) == y).float().mean() * 100
    assert acc[8] == pytest.approx(float(direct))  # all inputs perturbed = the network on the adversarial
    assert per_scale_ablation(td, x, noise, y, select=["low", 2]).perturbed.tolist() == ["low", "high"]
    with pytest.raises(ValueError, match="unknown feed 'sideways'"):
        per_scale_ablation(td, x, noise, y, select=["sideways"])
    with pytest.raises(ValueError, match="single-input TopDownNet"):
        per_scale_ablation(get_model("lenetfc"), x, noise, y)
