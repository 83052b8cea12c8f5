"""Speed levers: they must not change what the networks compute."""

import pytest
import torch
import torchvision

from tdlib import get_model, to_topdown
from tdlib.nets.topdown import TopDownNet, per_scale_twin
from tdlib.speed import (
    fold_batchnorm,
    predict,
    prepare_inference,
    prepare_training,
    tune_allocator,
    use_channels_last,
)

SHAPES = {"lenetfc": (1, 28, 28), "nin_light": (1, 28, 28), "resnet32": (3, 32, 32)}


def trained_stats(model, x):
    """A few train-mode passes so that BatchNorm running statistics are not trivial."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + 0.1 * torch.randn_like(x))
    return model.eval()


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("variant", ["bu", "td"])
def test_fold_batchnorm_is_exact_in_eval(name, variant):
    torch.manual_seed(0)
    x = torch.rand(4, *SHAPES[name])
    model = trained_stats(get_model(name, variant), x)
    folded = fold_batchnorm(model)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules()) < n_bn
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
        fast = prepare_inference(model)
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), model(x),
                                   rtol=1e-4, atol=1e-5)
    assert model.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_fold_batchnorm_torchvision_basic_blocks():
    torch.manual_seed(0)
    tv = to_topdown(torchvision.models.resnet18(num_classes=10))
    x = torch.rand(2, 3, 32, 32)
    tv = trained_stats(tv, x)
    with torch.no_grad():
        torch.testing.assert_close(fold_batchnorm(tv)(x), tv(x), rtol=1e-4, atol=1e-4)


def test_channels_last_rule_follows_the_narrowest_batchnorm():
    assert not use_channels_last(get_model("lenetfc"))       # 6-channel BatchNorm at 28x28
    assert not use_channels_last(get_model("lenetfc", "td"))
    assert use_channels_last(get_model("nin_light", "td"))
    assert use_channels_last(get_model("fcn"))              # its only small BatchNorm is the output's
    assert use_channels_last(get_model("unet"))
    assert use_channels_last(fold_batchnorm(get_model("lenetfc")))  # no BatchNorm left


def test_prepare_training_converts_weights():
    model = get_model("nin_light", "td")
    assert prepare_training(model) is True
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert isinstance(model, TopDownNet)


def test_tune_allocator_is_idempotent():
    first = tune_allocator()
    assert tune_allocator() == first


def test_inference_model_leaves_the_network_alone_and_takes_any_layout():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    model = trained_stats(get_model("nin_light", "td"), x).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = prepare_inference(model)
    assert prepare_inference(fast) is fast and fast.channels_last and not fast.training
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model.eval()(x), rtol=1e-4, atol=1e-5)
    model.train()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(RuntimeError, match="cannot train"):
        fast.train()


def test_predict_batches_and_restores_the_mode():
    torch.manual_seed(0)
    x = torch.rand(10, 1, 28, 28)
    model = trained_stats(get_model("lenetfc", "td"), x).train()
    plain = predict(model, x, batch_size=4, fast=False)
    assert model.training
    torch.testing.assert_close(predict(model, x, batch_size=3), plain, rtol=1e-4, atol=1e-5)
    assert predict(model, x[:0]).shape == (0, 10)
    twin = per_scale_twin(model)
    torch.testing.assert_close(predict(twin, [x, x, x], batch_size=4), plain, rtol=1e-4, atol=1e-5)
