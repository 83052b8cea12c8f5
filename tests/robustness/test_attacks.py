"""tdlib.robustness.attacks: known answers, foolbox 3 agreement, determinism, seeds, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tdlib.robustness import Classifier, get_attack, list_attacks, minimal_l2
from tdlib.robustness.attacks import (
    BlendedUniform,
    ContrastReduction,
    GaussianBlur,
    Pointwise,
    SinglePixel,
    Spatial,
    SpatialOperators,
    epsilons,
    linear_search,
    transform,
)

fb = pytest.importorskip("foolbox")


class MeanThreshold(nn.Module):
    """Class 1 when the mean intensity exceeds ``t``, else class 0 (a boundary known in closed form)."""

    def __init__(self, t: float) -> None:
        super().__init__()
        self.t = t
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        m = x.flatten(1).mean(1)
        return torch.stack([self.t - m, m - self.t], 1) + 0 * self.dummy


class PlantedPixel(nn.Module):
    """Class 1 only when pixel (r, c) is exactly 1 (in every channel)."""

    def __init__(self, r: int, c: int) -> None:
        super().__init__()
        self.r, self.c = r, c
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        on = (x[:, :, self.r, self.c] == 1.0).all(1).float()
        return torch.stack([1 - on, on], 1) + 0 * self.dummy


@pytest.fixture(scope="module")
def lenet(mnist_trained):
    return mnist_trained["bu"]


@pytest.fixture(scope="module")
def images(mnist_trained):
    return mnist_trained["x"][:12]


def _own_labels(model, x):
    """Labels = the model's own clean predictions (all correct for the fixture's images)."""
    with torch.no_grad():
        return model(x).argmax(1)


def test_registry_has_the_ten_attacks_and_rejects_others():
    assert list_attacks() == ["single_pixel", "salt_and_pepper", "pointwise", "additive_gaussian", "additive_uniform",
                              "blended_uniform", "gaussian_blur", "contrast_reduction", "spatial", "shifts"]
    assert all(get_attack(n).name == n for n in list_attacks())
    with pytest.raises(ValueError, match="unknown attack 'fgsm'.*single_pixel"):
        get_attack("fgsm")
    assert {n for n in list_attacks() if get_attack(n).deterministic} == {
        "gaussian_blur", "contrast_reduction", "spatial", "shifts"}


def test_single_pixel_finds_the_planted_pixel():
    x = torch.full((3, 2, 8, 8), 0.3)
    y = torch.zeros(3, dtype=torch.long)
    out = SinglePixel().run(Classifier(PlantedPixel(5, 2)), x, y, torch.Generator().manual_seed(1))
    assert out.success.all()
    diff = (out.adversarials != x)
    assert diff[:, :, 5, 2].all() and int(diff.sum()) == 3 * 2  # only that pixel, both channels
    assert (out.adversarials[:, :, 5, 2] == 1.0).all()
    few = SinglePixel(max_pixels=3).run(Classifier(PlantedPixel(5, 2)), x, y, torch.Generator().manual_seed(1))
    assert not few.success.all()  # 3 random positions of 64 rarely include the planted one


def test_linear_search_stops_at_the_first_grid_point_past_a_known_boundary():
    m0 = torch.tensor([0.1, 0.2, 0.3, 0.45])  # mean intensities of flat images
    x = m0.view(-1, 1, 1, 1).expand(4, 1, 6, 6).clone()
    t = 0.4615  # not on the grid of any of the four means (a tie would test float rounding)
    out = ContrastReduction().run(Classifier(MeanThreshold(t)), x, torch.zeros(4, dtype=torch.long), torch.Generator())
    assert out.success.all()
    eps = epsilons()
    # the mean moves to m + eps (0.5 - m): the first grid eps with m + eps (0.5 - m) > t
    expected = [eps[np.argmax(m + eps * (0.5 - m) > t)] for m in m0.double().numpy()]
    got = ((out.adversarials.flatten(1).mean(1).double() - m0.double()) / (0.5 - m0.double())).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_linear_search_evaluates_only_unbroken_samples():
    clf = Classifier(MeanThreshold(0.5))
    x = torch.tensor([0.45, 0.1]).view(2, 1, 1, 1).expand(2, 1, 4, 4).clone()
    out = linear_search(clf, x, torch.zeros(2, dtype=torch.long), lambda step, idx: x[idx] + 0.1 * (step + 1), 10)
    assert out.success.tolist() == [True, True]
    assert clf.queries == 1 + 5  # sample 0 breaks at step 0, sample 1 at step 4


def test_contrast_and_blur_equal_foolbox3(lenet, images):
    y = _own_labels(lenet, images)
    clf = Classifier(lenet)
    fmodel = clf.foolbox()
    for ours, theirs in [(ContrastReduction(), fb.attacks.LinearSearchContrastReductionAttack(steps=1000)),
                         (GaussianBlur(), fb.attacks.GaussianBlurAttack(steps=1000))]:
        out = ours.run(clf, images, y, torch.Generator())
        _, ref, ok = theirs(fmodel, images, fb.criteria.Misclassification(y), epsilons=None)
        assert out.success.sum() >= 6, ours.name  # the comparison is not vacuous
        assert torch.equal(out.success, ok), ours.name
        torch.testing.assert_close(out.adversarials[ok], ref[ok], atol=1e-5, rtol=0)


def test_blended_uniform_equals_foolbox3_for_the_same_draws(lenet, images):
    y = _own_labels(lenet, images)
    clf = Classifier(lenet)
    out = BlendedUniform().run(clf, images, y, torch.Generator().manual_seed(7))
    torch.manual_seed(7)  # foolbox 3 draws from torch's global generator
    _, ref, ok = fb.attacks.LinearSearchBlendedUniformNoiseAttack()(clf.foolbox(), images,
                                                                     fb.criteria.Misclassification(y), epsilons=None)
    assert out.success.sum() >= 6 and torch.equal(out.success, ok)
    torch.testing.assert_close(out.adversarials[ok], ref[ok], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["gaussian_blur", "contrast_reduction", "shifts"])
def test_deterministic_attacks_repeat_identically(lenet, images, name):
    y = _own_labels(lenet, images)
    a = get_attack(name).run(Classifier(lenet), images, y, torch.Generator().manual_seed(0))
    b = get_attack(name).run(Classifier(lenet), images, y, torch.Generator().manual_seed(99))
    assert torch.equal(a.success, b.success) and torch.equal(a.adversarials, b.adversarials)


@pytest.mark.parametrize("name", ["single_pixel", "salt_and_pepper", "additive_gaussian", "additive_uniform",
                                  "blended_uniform", "pointwise"])
def test_random_attacks_follow_the_seed(lenet, images, name):
    y = _own_labels(lenet, images)
    runs = [get_attack(name).run(Classifier(lenet), images, y, torch.Generator().manual_seed(s)) for s in (3, 3, 4)]
    assert torch.equal(runs[0].adversarials, runs[1].adversarials)
    assert not torch.equal(runs[0].adversarials, runs[2].adversarials)
    for r in runs:  # every success is really misclassified and in range
        adv = r.adversarials[r.success]
        assert (adv >= 0).all() and (adv <= 1).all()
        assert (_own_labels(lenet, adv) != y[r.success]).all()


@pytest.mark.parametrize("name", ["gaussian_blur", "contrast_reduction", "shifts", "spatial"])
def test_batched_equals_one_sample_at_a_time(lenet, images, name):
    x, y = images[:8], _own_labels(lenet, images[:8])
    batched = get_attack(name).run(Classifier(lenet), x, y, torch.Generator())
    for i in range(8):
        one = get_attack(name).run(Classifier(lenet), x[i : i + 1], y[i : i + 1], torch.Generator())
        assert bool(one.success[0]) == bool(batched.success[i])
        torch.testing.assert_close(one.adversarials[0], batched.adversarials[i], atol=1e-5, rtol=0)


def test_spatial_grid_is_the_fb2_grid_and_shifts_move_rows_first():
    grid = Spatial().grid()
    assert len(grid) == 1000 and len(Spatial(rotations=False).grid()) == 100
    assert grid[0] == (-5.0, -5.0, -5.0) and grid[1][2] > grid[0][2]  # angle is the inner loop
    assert all(v != 0 for g in grid for v in g)  # 0 is not on a 10-point grid over [-5, 5]
    img = np.zeros((1, 1, 9, 9), dtype=np.float32)
    img[0, 0, 4, 4] = 1.0
    moved = transform(img, 2.0, 0.0, 0.0)  # fb2's "x" shift moves axis 0 of HWC: the rows
    assert np.unravel_index(moved[0, 0].argmax(), (9, 9)) == (6, 4)


def test_pointwise_is_sparser_than_its_salt_and_pepper_start(lenet, images):
    y = _own_labels(lenet, images)
    sp = minimal_l2(lenet, images, y, "salt_and_pepper", repeats=1, seed=5)
    pw = minimal_l2(lenet, images, y, "pointwise", repeats=1, seed=5)
    both = sp.success & pw.success
    assert both.sum() >= 6
    assert (pw.l2[both] <= sp.l2[both] + 1e-6).all()


def test_single_pixel_shared_table_equals_early_stopped_runs(lenet, mnist_trained):
    x = mnist_trained["x"][:40]
    y = _own_labels(lenet, x)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    shared = list(SinglePixel().run_repeats(Classifier(lenet), x, y, gens))
    n, _, h, w = x.shape
    for seed, out in zip((1, 2, 3), shared, strict=True):  # fb2's loop: one candidate at a time, first success
        order = torch.rand(n, h * w, generator=torch.Generator().manual_seed(seed)).argsort(1)

        def candidate(step, idx, order=order):
            cand = x[idx].clone()
            cand[torch.arange(len(idx)), :, order[idx, step // 2] // w, order[idx, step // 2] % w] = float(step % 2)
            return cand

        ref = linear_search(Classifier(lenet), x, y, candidate, 2 * h * w)
        assert torch.equal(out.success, ref.success) and torch.equal(out.adversarials, ref.adversarials)
    assert sum(int(o.success.sum()) for o in shared) >= 1  # not vacuous
    clf = Classifier(lenet)
    SinglePixel().hits(clf, x, y)
    assert clf.queries < 2 * h * w * n * 0.8  # candidates equal to the clean image are skipped


def test_spatial_operators_equal_the_scipy_transform():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ops = SpatialOperators(32, 32)
    grid = Spatial().grid()[::37] + Spatial(rotations=False).grid()[::11]
    for g in grid:
        torch.testing.assert_close(ops.apply(x, *g), torch.from_numpy(transform(x.numpy(), *g)), atol=1e-5, rtol=0)


def test_pointwise_on_a_known_boundary_ends_at_the_boundary():
    """Mean-threshold model: the sparsest adversarial sits just past the threshold."""
    t = 0.3
    clf = Classifier(MeanThreshold(t))
    x = torch.full((4, 1, 6, 6), 0.1)
    start = x.clone()
    start[:, :, :4] = 0.9  # adversarial: mean 0.63 > t
    y = torch.zeros(4, dtype=torch.long)
    out = Pointwise().sparsify(clf, x, y, start, torch.Generator().manual_seed(0))
    means = out.flatten(1).mean(1)
    assert (means > t).all() and (means < t + 0.8 / 36 / 2**9).all()  # within the last binary-search step
    changed = ((out - x).abs() > 1e-8).flatten(1).sum(1)
    assert (changed <= 10).all()  # phase 1 reset all but the ~8 pixels the boundary needs


def test_pointwise_matches_foolbox3_quality(lenet, images):
    """Same algorithm as foolbox 3 (other visiting orders): similar sparsity and L2 from the same starts."""
    y = _own_labels(lenet, images)
    clf = Classifier(lenet)
    start = get_attack("salt_and_pepper").run(clf, images, y, torch.Generator().manual_seed(5))
    ok = start.success
    ours = Pointwise().sparsify(clf, images[ok], y[ok], start.adversarials[ok], torch.Generator().manual_seed(5))
    theirs = fb.attacks.PointwiseAttack().run(clf.foolbox(), images[ok], fb.criteria.Misclassification(y[ok]),
                                              starting_points=start.adversarials[ok])
    assert (clf.predict(ours) != y[ok]).all()
    l2 = lambda a: (a - images[ok]).flatten(1).norm(dim=1)  # noqa: E731
    assert ok.sum() >= 6 and (l2(ours) < l2(start.adversarials[ok])).all()
    assert abs(float(l2(ours).median() / l2(theirs).median()) - 1) < 0.25
