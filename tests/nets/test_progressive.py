"""Progressive growing of a TD network (thesis §3.2.4): stages, fade-in, the frozen regime."""

import copy

import pytest
import torch

from tdlib.nets import Growth, GrowthSchedule, freeze_grown, get_model, step_stages
from tdlib.nets.topdown import per_scale_twin
from tdlib.speed import prepare_inference
from tdlib.train import make_optimizer, train_step

SIZES = {"lenetfc": 28, "nin_light": 28, "resnet32": 32, "resnet18_light": 32}


def net(name, seed=0):
    torch.manual_seed(seed)
    return get_model(name, "td")


def image(name, batch=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    c = 1 if name in ("lenetfc", "nin_light") else 3
    return torch.rand(batch, c, SIZES[name], SIZES[name], generator=g)


def run(model, x, seed=5):
    torch.manual_seed(seed)  # the same dropout masks
    return model(x)


def test_step_stages():
    assert step_stages(net("lenetfc")) == [1, 2, 3]
    assert step_stages(net("resnet32")) == [1, 2, 3]
    assert step_stages(net("resnet18_light")) == [2, 3, 4, 5]  # stage 1: the stem on the coarsest level


@pytest.mark.parametrize("name", list(SIZES))
@pytest.mark.parametrize("regime", ["trainable", "frozen"])
@pytest.mark.parametrize("mode", [False, True])
def test_fully_grown_is_bit_identical_to_the_plain_network(name, regime, mode):
    plain = net(name).train(mode)
    model = copy.deepcopy(plain)
    x = image(name)
    g = Growth(model, regime)
    assert g.stage == g.stages == model.levels and g.alpha == 1.0
    with torch.no_grad():
        assert torch.equal(run(model, x), run(plain, x))  # hooks registered, nothing set yet
        g.set(1)
        g.set(model.levels, 1.0)
        if not (mode and regime == "frozen"):  # (frozen BatchNorms run in eval mode by design)
            assert torch.equal(run(model, x), run(plain, x))
            g.set(2, 0.5)
            g.set_alpha(1.0)
            g.set(model.levels)
            assert torch.equal(run(model, x), run(plain, x))
        g.remove()
        assert all(p.requires_grad for p in model.parameters())
        assert torch.equal(run(model, x), run(plain, x))
    if not (mode and regime == "frozen"):
        for a, b in zip(plain.state_dict().values(), model.state_dict().values(), strict=True):
            assert torch.equal(a, b)  # same running statistics too


@pytest.mark.parametrize("name", list(SIZES))
@pytest.mark.parametrize("mode", [False, True])
def test_a_stage_ignores_the_finer_pyramid_levels(name, mode):
    model = net(name).train(mode)
    g = Growth(model)
    x = image(name)
    levels = model.input_levels(x)
    L = model.levels
    with torch.no_grad():
        for stage in range(1, L + 1):
            g.set(stage, 0.7)
            torch.manual_seed(5)
            ref = model.head(model.level_features(levels)[-1])
            for lvl in range(L):
                changed = list(levels)
                changed[lvl] = torch.randn_like(levels[lvl]) * 3
                torch.manual_seed(5)
                out = model.head(model.level_features(changed)[-1])
                # levels L-1 .. L-stage are grown; the finer ones are not seen at all
                assert torch.equal(out, ref) == (lvl < L - stage), (stage, lvl)


def test_stage_one_of_a_per_scale_network_ignores_the_finer_images():
    model = per_scale_twin(net("nin_light")).eval()
    g = Growth(model)
    g.set(1)
    x = image("nin_light")
    with torch.no_grad():
        a = model([x, x, x])
        b = model([torch.rand_like(x), torch.rand_like(x), x])
        g.set(2, 0.3)
        c = model([torch.rand_like(x), x, x])
        d = model([x, x, x])
        e = model([x, torch.rand_like(x), x])
    assert torch.equal(a, b)
    assert torch.equal(c, d) and not torch.equal(d, e)


def test_alpha_multiplies_the_entry_branch_of_the_newest_step():
    model = net("lenetfc").eval()
    g = Growth(model)
    x = image("lenetfc")
    levels = model.input_levels(x)
    with torch.no_grad():
        h0 = model.steps[0](levels[-1], levels)
        s1 = model.steps[1]
        entry = s1.entry(levels[s1.level])  # fully grown: the hook changes nothing
        g.set(2, 0.25)
        expected = s1.units(s1.merge(s1.transition(h0), 0.25 * entry))
        assert torch.equal(model.level_features(levels)[1], expected)
        g.set_alpha(0.0)
        assert g.alpha == 0.0
        expected = s1.units(s1.merge(s1.transition(h0), torch.zeros_like(entry)))
        assert torch.equal(model.level_features(levels)[1], expected)


def test_the_fast_inference_copy_keeps_the_stage():
    model = net("nin_light").eval()
    g = Growth(model)
    g.set(2, 0.5)
    x = image("nin_light")
    with torch.no_grad():
        torch.testing.assert_close(prepare_inference(model)(x), model(x), rtol=1e-4, atol=1e-5)
        g.set(3)
        full = model(x)
        g.set(2, 0.5)
        assert not torch.allclose(prepare_inference(model)(x), full)


def test_dormant_entries_get_no_gradient_and_stay_as_initialised():
    model = net("lenetfc").train()
    before = copy.deepcopy(model.state_dict())
    g = Growth(model)
    g.set(1)
    opt = make_optimizer(model, 0.1, weight_decay=1e-3)
    x, y = image("lenetfc", 16), torch.randint(0, 10, (16,))
    train_step(model, opt, x, y)
    for name, p in model.named_parameters():
        dormant = name.startswith(("steps.1.entry.", "steps.2.entry."))
        assert (p.grad is None) == dormant, name
        assert torch.equal(p, before[name]) == dormant, name
    g.set(2, 0.5)
    train_step(model, opt, x, y)
    assert model.steps[1].entry.conv.weight.grad is not None
    assert model.steps[2].entry.conv.weight.grad is None


def test_freeze_grown_names_the_earlier_stages():
    assert freeze_grown(net("lenetfc"), 1).modules == []
    assert freeze_grown(net("lenetfc"), 2).modules == ["steps.0"]
    assert freeze_grown(net("lenetfc"), 3).modules == ["steps.0", "steps.1"]
    assert freeze_grown(net("resnet32"), 2).modules == ["stem", "steps.0"]
    assert freeze_grown(net("resnet18_light"), 2).modules == ["stem"]
    assert freeze_grown(net("resnet18_light"), 4).modules == ["stem", "steps.0", "steps.1"]
    with pytest.raises(ValueError, match="stage"):
        freeze_grown(net("lenetfc"), 4)
    with pytest.raises(ValueError, match="TopDownNet"):
        freeze_grown(get_model("lenetfc", "bu"), 2)


def _bn_stats(model, prefix):
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.startswith(prefix) and k.split(".")[-1] in ("running_mean", "running_var", "num_batches_tracked")}


def _grown_then_step(name, regime, stage):
    """Train a step at stage 1 (momentum buffers for every grown parameter), then two at ``stage``."""
    model = net(name).train()
    g = Growth(model, regime)
    opt = make_optimizer(model, 0.1, weight_decay=5e-4)
    x, y = image(name, 16), torch.randint(0, 10, (16,))
    g.set(1)
    train_step(model, opt, x, y)
    g.set(stage, 0.5)
    model.train()  # as train() does every epoch
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    stats = _bn_stats(model, "")
    for _ in range(2):
        train_step(model, opt, x, y)
    return model, g, before, stats


@pytest.mark.parametrize(("name", "stage", "frozen"), [("lenetfc", 3, ("steps.0.", "steps.1.")),
                                                         ("resnet32", 2, ("stem.", "steps.0."))])
def test_frozen_layers_keep_weights_and_statistics_over_real_steps(name, stage, frozen):
    model, g, before, stats = _grown_then_step(name, "frozen", stage)
    assert g.frozen == [p.rstrip(".") for p in frozen]
    dormant = tuple(f"steps.{k}.entry." for k, s in enumerate(step_stages(model)) if s > stage)
    after_stats = _bn_stats(model, "")
    for k, p in model.named_parameters():
        if k.startswith(frozen):
            assert not p.requires_grad and p.grad is None, k
            assert torch.equal(p, before[k]), k  # no update, no weight decay, no momentum drift
        elif k.startswith(dormant):  # entries of later stages: unchanged until their stage
            assert not p.requires_grad and p.grad is None and torch.equal(p, before[k]), k
        else:
            assert p.requires_grad and not torch.equal(p, before[k]), k  # the head and finer steps train
    for k, v in stats.items():
        assert torch.equal(after_stats[k], v) == k.startswith(frozen), k
    bns = [m for n, m in model.named_modules() if n.startswith(frozen) and isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)


def test_trainable_regime_updates_the_earlier_layers():
    model, g, before, stats = _grown_then_step("lenetfc", "trainable", 3)
    assert g.frozen == []
    after_stats = _bn_stats(model, "")
    for k, p in model.named_parameters():
        assert p.requires_grad and not torch.equal(p, before[k]), k
    for k, v in stats.items():
        assert not torch.equal(after_stats[k], v), k


def test_release_and_remove_give_back_a_plain_trainable_network():
    model = net("lenetfc").train()
    frozen = freeze_grown(model, 3)
    assert sum(not p.requires_grad for p in model.parameters()) > 0
    model.train()
    bn = model.steps[0].units[0].bn
    mean = bn.running_mean.clone()
    model(image("lenetfc"))
    assert torch.equal(bn.running_mean, mean)  # eval mode despite model.train()
    frozen.release()
    assert all(p.requires_grad for p in model.parameters())
    model(image("lenetfc"))
    assert not torch.equal(bn.running_mean, mean)
    g = Growth(model, "frozen")
    g.set(2, 0.5)
    g.remove()
    assert all(p.requires_grad for p in model.parameters()) and g.frozen == []
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_growth_errors():
    with pytest.raises(ValueError, match="TopDownNet"):
        Growth(get_model("lenetfc", "bu"))
    model = net("lenetfc")
    with pytest.raises(ValueError, match="regime"):
        Growth(model, "none")
    g = Growth(model)
    for stage in (0, 4, 1.0, True):
        with pytest.raises(ValueError, match="stage"):
            g.set(stage)
    with pytest.raises(ValueError, match="alpha"):
        g.set(2, 1.5)
    with pytest.raises(ValueError, match="schedule"):
        g.follow(0, 0)
    with pytest.raises(ValueError, match="stages"):
        Growth(model, "trainable", GrowthSchedule(8, 4))


@pytest.mark.parametrize(("epochs", "stages", "split"), [(3, 3, [1, 1, 1]), (10, 3, [3, 3, 4]), (50, 3, [16, 17, 17]),
                                                         (30, 3, [10, 10, 10]), (5, 5, [1] * 5), (4, 1, [4])])
def test_schedule_splits_the_epochs_equally_later_stages_take_the_rest(epochs, stages, split):
    s = GrowthSchedule(epochs, stages)
    assert s.stage_epochs == split and sum(split) == epochs
    assert [s.stage(e) for e in range(epochs)] == [k + 1 for k, n in enumerate(split) for _ in range(n)]


def test_schedule_fades_alpha_per_batch():
    s = GrowthSchedule(6, 3, fade=0.5, batches_per_epoch=4)  # 2 epochs = 8 batches per stage, 4 fading
    assert [s.alpha(e, b) for e in (0, 1) for b in range(4)] == [1.0] * 8  # stage 1: nothing fades
    assert [s.alpha(e, b) for e in (2, 3) for b in range(4)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert s.alpha(4, 0) == 0.25 and s.alpha(5, 3) == 1.0
    s = GrowthSchedule(3, 3, fade=1.0, batches_per_epoch=2)
    assert [s.alpha(e, b) for e in range(3) for b in range(2)] == [1.0, 1.0, 0.5, 1.0, 0.5, 1.0]
    assert GrowthSchedule(3, 3, fade=0.0, batches_per_epoch=2).alpha(1, 0) == 1.0
    with pytest.raises(ValueError, match="at least 3 epochs"):
        GrowthSchedule(2, 3)
    with pytest.raises(ValueError, match="fade"):
        GrowthSchedule(3, 3, fade=1.5)
    with pytest.raises(ValueError, match="epoch"):
        GrowthSchedule(3, 3).stage(3)


def test_follow_sets_the_stage_from_the_schedule_alone():
    model = net("lenetfc")
    g = Growth(model, "frozen", GrowthSchedule(3, 3, fade=1.0, batches_per_epoch=2))
    g.follow(2, 0)  # a resumed run starting in the last stage
    assert (g.stage, g.alpha, g.frozen) == (3, 0.5, ["steps.0", "steps.1"])
    g.follow(2, 1)
    assert (g.stage, g.alpha) == (3, 1.0)
