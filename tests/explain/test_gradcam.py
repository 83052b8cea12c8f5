"""Grad-CAM: the authors' procedure by hand, Eq. 3.3 against pytorch-grad-cam, a planted object, hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tdlib import get_model
from tdlib.explain import GradCAM, energy_share, grad_cam, layers, localisation_iou, paper_layers
from tdlib.speed import prepare_inference


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics, so an untrained network's heatmaps are not all flat."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


class TwoLayer(nn.Module):
    """conv3x3 stride 2 (the layer) -> ReLU -> global mean -> linear: 8x8 images, a 4x4 map."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(1, 3, 3, stride=2, padding=1)
        self.fc = nn.Linear(3, 4)
        with torch.no_grad():  # units that are alive on some pixels and dead on others
            self.conv.weight.normal_(0.0, 0.5)
            self.conv.bias.fill_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).mean((2, 3)))


def _bilinear_matrix(n: int, m: int) -> np.ndarray:
    """(m, n) matrix of 1-D linear interpolation with half-pixel centres, edges clamped (cv2 INTER_LINEAR)."""
    r = np.zeros((m, n))
    for i in range(m):
        src = max((i + 0.5) * n / m - 0.5, 0.0)
        i0 = int(np.floor(src))
        i1 = min(i0 + 1, n - 1)
        w = src - i0
        r[i, i0] += 1 - w
        r[i, i1] += w
    return r


def test_original_style_by_hand_on_a_two_layer_model():
    model = TwoLayer().eval()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    heat, cls = GradCAM(model, "conv", style="original")(x, return_target=True)

    w, b = model.fc.weight.detach().double().numpy(), model.fc.bias.detach().double().numpy()
    a = F.conv2d(x.double(), model.conv.weight.detach().double(), model.conv.bias.detach().double(), stride=2,
                 padding=1).numpy()
    up = _bilinear_matrix(4, 8)
    flat = 0
    for i in range(len(x)):
        ai = a[i]                                            # (3, 4, 4), the layer's output
        z = w @ np.maximum(ai, 0).mean((1, 2)) + b           # scores
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()  # softmax
        c = int(p.argmax())
        assert cls[i] == c                                   # the predicted class
        dp_dz = p[c] * ((np.arange(4) == c) - p)             # d softmax_c / d z
        grad = (dp_dz @ w)[:, None, None] * (ai > 0) / 16.0  # d p_c / d A_kij
        alpha = grad.mean((1, 2))
        cam = np.tensordot(alpha, ai, 1)                     # no ReLU yet
        cam = cam - cam.mean()
        cam = cam / (np.linalg.norm(cam) + 1e-10)
        cam = np.maximum(up @ cam @ up.T, 0)                 # bilinear 4x4 -> 8x8, then ReLU
        if cam.max() == 0:  # a flat map (every unit dead): the original divides 0 by 0, ours is 0
            flat += 1
            cam = np.zeros_like(cam)
        else:
            cam = cam / cam.max()
        np.testing.assert_allclose(heat[i].numpy(), cam, atol=1e-5)
    assert flat < len(x) // 2


def test_paper_style_by_hand_uses_the_raw_score_and_relu_first():
    model = TwoLayer().eval()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 1, 3])
    heat = grad_cam(model, x, "conv", style="paper", target=target)
    w = model.fc.weight.detach().double().numpy()
    a = F.conv2d(x.double(), model.conv.weight.detach().double(), model.conv.bias.detach().double(), stride=2,
                 padding=1).numpy()
    up = _bilinear_matrix(4, 8)

    def minmax(v: np.ndarray) -> np.ndarray:
        v = v - v.min()
        return v / (1e-7 + v.max())

    for i, c in enumerate(target.tolist()):
        alpha = (w[c][:, None, None] * (a[i] > 0) / 16.0).mean((1, 2))
        cam = minmax(up @ minmax(np.maximum(np.tensordot(alpha, a[i], 1), 0)) @ up.T)
        np.testing.assert_allclose(heat[i].numpy(), cam, atol=1e-5)


CASES = [("lenetfc", "bu"), ("lenetfc", "td"), ("nin_light", "bu"), ("nin_light", "td")]


@pytest.mark.parametrize("name,variant", CASES)
def test_paper_style_matches_pytorch_grad_cam(name, variant):
    pgc = pytest.importorskip("pytorch_grad_cam")
    model = _randomise_bn(get_model(name, variant), seed=1)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    names = [layer.name for layer in layers(model)]
    ours = grad_cam(model, x, names, style="paper")  # every layer in one pass
    modules = dict(model.named_modules())
    informative = 0
    for n in names:
        with pgc.GradCAM(model=model, target_layers=[modules[n]]) as cam:
            ref = torch.from_numpy(cam(input_tensor=x, targets=None))  # its default target: the predicted class
        torch.testing.assert_close(ours[n], ref, atol=1e-5, rtol=0, msg=f"{name} {variant} {n}")
        informative += int((ref.amax((1, 2)) > 0.5).sum())
    assert informative > len(names) * len(x) // 2  # mostly non-flat maps: the comparison means something


def test_paper_style_matches_pytorch_grad_cam_with_given_targets():
    pgc = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _randomise_bn(get_model("nin_light", "td"), seed=2)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    target = [3, 1, 4, 1]
    layer = paper_layers(model)["act_2"]
    ours = grad_cam(model, x, layer, style="paper", target=target)
    with pgc.GradCAM(model=model, target_layers=[dict(model.named_modules())[layer]]) as cam:
        ref = torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in target]))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def _planted(n: int = 8, seed: int = 0) -> torch.Tensor:
    """28x28 images: faint noise (< 0.2) and one bright 6x6 square at a random place."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.1
    for i in range(n):
        r, c = torch.randint(0, 22, (2,), generator=g).tolist()
        x[i, 0, r : r + 6, c : c + 6] = 1.0
    return x


class BrightSpot(nn.Module):
    """Class 1 = how much bright stuff there is: blur -> ReLU(x - 0.3) -> pool -> 1x1 -> GAP -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.blur = nn.Conv2d(1, 2, 3, padding=1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.mix = nn.Conv2d(2, 2, 1)
        self.act2 = nn.ReLU()
        self.fc = nn.Linear(2, 3)
        with torch.no_grad():
            self.blur.weight.copy_(torch.stack([torch.full((1, 3, 3), 1 / 9), torch.full((1, 3, 3), -1 / 9)]))
            self.blur.bias.copy_(torch.tensor([-0.3, -0.3]))
            self.mix.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            self.mix.bias.zero_()
            self.fc.weight.copy_(torch.tensor([[0.0, 0.0], [20.0, 0.0], [-1.0, 0.0]]))
            self.fc.bias.copy_(torch.tensor([0.5, 0.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act2(self.mix(self.pool(self.act(self.blur(x))))).mean((2, 3)))


@pytest.mark.parametrize("style", ["original", "paper"])
@pytest.mark.parametrize("layer", ["act", "act2"])  # full resolution, and 14x14 resized back
def test_heatmap_of_a_planted_object_covers_it(style, layer):
    x = _planted()
    model = BrightSpot().eval()
    heat, cls = GradCAM(model, layer, style=style)(x, return_target=True)
    assert (cls == 1).all()
    object_mask = x[:, 0] > 0.2  # 36 of 784 pixels: 4.6 % of the image
    assert (energy_share(heat, x) > {"act": 0.85, "act2": 0.65}[layer]).all()
    peak = heat.flatten(1).argmax(1)
    assert object_mask.flatten(1)[torch.arange(len(x)), peak].all()  # the hottest pixel is on the object
    iou = localisation_iou(heat, x, thresholds=(0.3,), reduce="none")[:, 0]
    assert (iou > 0.5).all()
    # and the explanation of another class does not (class 2 lowers with brightness: negative weights)
    other = grad_cam(model, x, layer, style=style, target=2)
    assert (energy_share(other, x).nan_to_num(0.0) < 0.5).all()


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


def test_hooks_are_removed_and_state_restored_even_on_error():
    model = get_model("lenetfc", "td").train()
    x = torch.rand(2, 1, 28, 28)
    assert _hooks(model) == 0
    grad_cam(model, x, "head.unit")
    assert _hooks(model) == 0
    with pytest.raises(ValueError, match="divisible"):  # the network's own input check, hooks already set
        grad_cam(model, torch.rand(2, 1, 30, 30), "head.unit")
    assert _hooks(model) == 0
    model.head.add_module("boom", Boom())  # raises after the captured layer ran
    model.head.forward = lambda h: model.head.boom(model.head.unit(h))
    with pytest.raises(RuntimeError, match="boom"):
        grad_cam(model, x, ["steps.0.units.0", "head.unit"])
    assert _hooks(model) == 0
    assert torch.is_grad_enabled()
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert all(p.grad is None for p in model.parameters())  # Grad-CAM leaves parameter gradients alone


def test_unknown_layer_lists_the_valid_ones():
    model = get_model("lenetfc", "bu")
    with pytest.raises(ValueError, match=r"unknown layer 'conv5'.*stages\.0\.0.*stages\.1\.1.*head\.unit"):
        grad_cam(model, torch.rand(1, 1, 28, 28), "conv5")
    with pytest.raises(ValueError, match="unknown layer"):
        GradCAM(get_model("nin_light", "td"), ["steps.0.units.0", "stages.0.0"])


def test_bad_style_images_and_targets():
    model = get_model("lenetfc")
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="unknown Grad-CAM style 'eq3'.*original, paper"):
        grad_cam(model, x, "head.unit", style="eq3")  # type: ignore[arg-type]
    for bad in (torch.rand(1, 28, 28), torch.rand(2, 3, 28, 28), torch.rand(0, 1, 28, 28)):
        with pytest.raises(ValueError, match="expected"):
            grad_cam(model, bad, "head.unit")
    with pytest.raises(ValueError, match="target"):
        grad_cam(model, x, "head.unit", target=[1, 2, 3])
    with pytest.raises(ValueError, match="0..9"):
        grad_cam(model, x, "head.unit", target=10)


def test_non_feature_map_layer_and_unused_layer():
    model = get_model("lenetfc")
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="does not output one"):
        grad_cam(model, x, "head")
    td = get_model("lenetfc", "td")
    with pytest.raises(ValueError, match="produced no output"):
        grad_cam(td, x, "steps.1.merge.unit")  # computed inside the fused merge, never called


def test_works_on_bu_td_segmentation_and_the_fast_copy():
    x = torch.rand(3, 1, 28, 28)
    for model in (get_model("lenetfc"), get_model("lenetfc", "td"), get_model("nin_light", "td")):
        model = _randomise_bn(model)
        for layer in layers(model):
            h = grad_cam(model, x, layer.name)
            assert h.shape == (3, 28, 28) and h.min() >= 0 and h.max() <= 1
        acts = list(paper_layers(model).values())
        slow = grad_cam(model, x, acts, batch_size=2)  # split into batches of 2 and 1
        fast = grad_cam(prepare_inference(model), x, acts)  # folded BatchNorm, same names
        for n in acts:
            torch.testing.assert_close(fast[n], slow[n], atol=2e-4, rtol=0)
    seg = get_model("td_seg")
    m = torch.rand(2, 1, 56, 56)
    heat, cls = GradCAM(seg, ["steps.0.units.1", "steps.2.units.1"])(m, return_target=True)
    assert heat["steps.0.units.1"].shape == (2, 56, 56) and cls.shape == (2,)
    assert grad_cam(seg, m, "steps.2.merge", target=3, style="paper").shape == (2, 56, 56)


def test_mean_is_subtracted_inside():
    model = _randomise_bn(get_model("lenetfc"))
    x = torch.rand(2, 1, 28, 28)
    mean = torch.full((1, 28, 28), 0.25)
    torch.testing.assert_close(grad_cam(model, x, "stages.1.1", mean=mean), grad_cam(model, x - mean, "stages.1.1"))


def test_resnet_activation_layers_are_the_relus():
    """The authors' act_k of a pre-activation ResNet is the ReLU output: its gradient is not gated at zeros."""
    model = _randomise_bn(get_model("resnet32", "td"))
    x = torch.rand(2, 3, 32, 32)
    names = paper_layers(model)
    heat = grad_cam(model, x, list(names.values()), style="paper")
    assert all(h.shape == (2, 32, 32) for h in heat.values())
    # act_4 = head.act: score = fc(mean(A)), so alpha_k = w_ck / HW exactly, zeros of A included
    head = model.head
    with torch.no_grad():
        a = head.act(head.bn(model.features(x)[-1]))
        c = head.fc(a.mean((2, 3))).argmax(1)
        alpha = head.fc.weight[c] / a[0, 0].numel()
        cam = torch.einsum("nc,nchw->nhw", alpha, a).clamp_min(0)
        cam = cam - cam.amin((1, 2), keepdim=True)
        cam = cam / (1e-7 + cam.amax((1, 2), keepdim=True))
    torch.testing.assert_close(heat["head.act"], cam, atol=1e-5, rtol=0)


@pytest.mark.parametrize("style", ["original", "paper"])
def test_a_flat_map_is_zero_not_nan(style):
    model = TwoLayer().eval()
    with torch.no_grad():
        model.conv.bias.fill_(-100.0)  # every unit dead: no gradient, a constant map
    heat = grad_cam(model, torch.rand(2, 1, 8, 8), "conv", style=style)
    assert torch.equal(heat, torch.zeros(2, 8, 8))
