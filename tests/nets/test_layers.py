"""Layer conventions that a PyTorch port of the Keras code must get right."""

import math

import pytest
import torch
import torch.nn.functional as F

from tdlib.nets.layers import (
    Conv2d,
    ConvUnit,
    Dropout,
    MaxPool,
    Merge,
    PreActBlock,
    Projection,
    init_weights_,
    tf_same_pads,
    upsample_factory,
)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pads"),
    [(28, 3, 2, (0, 1)), (14, 3, 2, (0, 1)), (7, 3, 2, (1, 1)), (32, 1, 2, (0, 0)), (28, 5, 1, (2, 2)),
     (28, 2, 2, (0, 0))],
)
def test_tf_same_pads(size, kernel, stride, pads):
    assert tf_same_pads(size, kernel, stride) == pads


@pytest.mark.parametrize("size", [28, 14, 7, 32])
def test_maxpool3_equals_tf_same_with_explicit_padding(size):
    x = torch.randn(2, 3, size, size, requires_grad=True)
    (t, b), (lft, r) = tf_same_pads(size, 3, 2), tf_same_pads(size, 3, 2)
    ref = F.max_pool2d(F.pad(x, (lft, r, t, b), value=-math.inf), 3, 2)
    out = MaxPool(3, "tf")(x)
    assert out.shape[-1] == math.ceil(size / 2)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    g_ref, = torch.autograd.grad(ref.sum(), x)
    g_out, = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(g_out, g_ref, rtol=0, atol=0)


@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("size", [28, 14, 8])
def test_maxpool_inference_path_equals_max_pool2d(kernel, size):
    x = torch.randn(3, 5, size, size)
    ref = F.max_pool2d(x, kernel, 2, ceil_mode=True)
    with torch.no_grad():
        out = MaxPool(kernel, "tf")(x)
        out_cl = MaxPool(kernel, "tf")(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(out, ref) and torch.equal(out_cl, ref)


def test_maxpool2_training_gradient_equals_max_pool2d_with_ties():
    x = torch.randn(2, 3, 8, 8)
    x[0, 0, :2, :2] = 1.5  # a tie: all four equal
    x[1, 2, 2:4, 4:6] = torch.tensor([[0.0, 2.0], [2.0, 0.0]])  # a tie between two elements
    x = torch.relu(x)  # zero windows, as after the ReLU that precedes every pool here
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    ya, yb = MaxPool(2)(a), F.max_pool2d(b, 2, 2)
    assert torch.equal(ya, yb)
    g = torch.randn_like(ya)
    ga, = torch.autograd.grad(ya, a, g)
    gb, = torch.autograd.grad(yb, b, g)
    assert torch.equal(ga, gb)


def test_maxpool3_tf_differs_from_symmetric_padding():
    x = torch.randn(1, 1, 8, 8)
    assert not torch.equal(MaxPool(3, "tf")(x), MaxPool(3, "torch")(x))


def test_strided_conv_uses_tf_padding():
    conv = Conv2d(3, 4, 3, stride=2, padding="tf")
    x = torch.randn(2, 3, 16, 16)
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2)
    torch.testing.assert_close(conv(x), ref)
    sym = F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)
    assert not torch.allclose(conv(x), sym)


def test_conv_unit_orders():
    post = ConvUnit(2, 4, 3, "post").eval()
    pre = ConvUnit(2, 4, 3, "pre").eval()
    x = torch.randn(1, 2, 6, 6)
    assert (post(x) >= 0).all()  # ends with a ReLU
    assert pre.bn.num_features == 2 and post.bn.num_features == 4
    assert (pre(x) < 0).any()  # ends with a convolution


def test_preact_up_block_shortcut_is_upsampled_projection():
    block = PreActBlock(8, 4, "up").eval()
    x = torch.randn(2, 8, 5, 5)
    assert block(x).shape == (2, 4, 10, 10)
    # Zeroing the main path leaves the shortcut: up(conv1x1(ReLU(BN(x)))).
    torch.nn.init.zeros_(block.conv2.weight)
    torch.nn.init.zeros_(block.conv2.bias)
    o = F.relu(block.bn1(x))
    expect = block.shortcut(o).repeat_interleave(2, -1).repeat_interleave(2, -2)
    torch.testing.assert_close(block(x), expect)


def test_preact_up_block_same_width_has_identity_shortcut():
    block = PreActBlock(4, 4, "up")
    assert block.shortcut is None
    assert sum(p.numel() for p in block.parameters()) == 2 * (4 * 9 * 4 + 4) + 2 * 2 * 4
    forced = PreActBlock(4, 4, "up", project=True)
    assert forced.shortcut.kernel_size == (1, 1)
    assert forced(torch.randn(2, 4, 3, 3)).shape == (2, 4, 6, 6)


@pytest.mark.parametrize("kind", ["add", "concat", "add_concat"])
def test_merge_kinds(kind):
    m = Merge(3, kind, "post").eval()
    x, s = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    y = m(x, s)
    assert y.shape == x.shape
    if kind == "add":
        torch.testing.assert_close(y, x + s)
    else:
        inp = torch.cat([x + s, s] if kind == "add_concat" else [x, s], 1)
        torch.testing.assert_close(y, m.unit(inp))


def test_merge_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        Merge(3)(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 8, 8))


def test_projection_only_when_needed():
    assert Projection(8, 8).project is None
    assert Projection(8, 8, project=True).project is not None
    assert Projection(8, 4)(torch.randn(1, 8, 3, 3)).shape == (1, 4, 3, 3)


@pytest.mark.parametrize("kind", ["concat", "add_concat"])
@pytest.mark.parametrize("train", [True, False])
def test_merge_upsampling_rewrite_is_exact(kind, train):
    torch.manual_seed(0)
    m = Merge(5, kind, "post", up=upsample_factory("nearest")(5)).double().train(train)
    assert m.fusable()
    low = torch.randn(3, 5, 4, 6, dtype=torch.float64, requires_grad=True)
    skip = torch.randn(3, 5, 8, 12, dtype=torch.float64, requires_grad=True)
    out = m(low, skip)
    grads = torch.autograd.grad(out.square().sum(), [low, skip, m.unit.conv.weight, m.unit.conv.bias])
    Merge.fuse_upsample = False
    try:
        assert not m.fusable()
        ref = m(low, skip)
        ref_grads = torch.autograd.grad(ref.square().sum(), [low, skip, m.unit.conv.weight, m.unit.conv.bias])
    finally:
        Merge.fuse_upsample = True
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)


def test_merge_rewrite_not_used_where_it_does_not_apply():
    assert not Merge(4, "add_concat", "pre", up=upsample_factory("nearest")(4)).fusable()  # BN before conv
    assert not Merge(4, "add_concat", "post", up=upsample_factory("bilinear")(4)).fusable()
    assert not Merge(4, "add", "post", up=upsample_factory("nearest")(4)).fusable()


def test_dropout_half_keeps_half_and_scales():
    torch.manual_seed(0)
    d = Dropout(0.5).train()
    x = torch.ones(64, 8, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = d(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert abs((y == 0).float().mean().item() - 0.5) < 0.01
    g, = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, y.detach())  # the same mask in backward
    per_channel = (y == 0).float().mean((0, 2, 3))
    assert (per_channel - 0.5).abs().max() < 0.03  # no channel pattern from the bit layout
    torch.manual_seed(1)
    a = d(x)
    torch.manual_seed(1)
    torch.testing.assert_close(d(x), a)  # seeded
    assert torch.equal(d.eval()(x), x)


def test_dropout_other_p_uses_torch():
    torch.manual_seed(0)
    y = Dropout(0.2).train()(torch.ones(10000))
    assert abs((y == 0).float().mean().item() - 0.2) < 0.02
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)


def test_unknown_upsample_lists_choices():
    with pytest.raises(ValueError, match="nearest, bilinear, transposed"):
        upsample_factory("cubic")


def test_he_trunc_init_statistics():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3)
    init_weights_(conv, "he_trunc")
    std = math.sqrt(2 / (64 * 9))
    w = conv.weight
    assert w.abs().max() <= 2 * std / 0.87962566 + 1e-6
    assert abs(w.std().item() - std) / std < 0.03  # truncation correction restores the std
    assert torch.all(conv.bias == 0)


def test_glorot_init_bounds():
    conv = torch.nn.Conv2d(10, 20, 5)
    init_weights_(conv, "glorot")
    limit = math.sqrt(6 / (10 * 25 + 20 * 25))
    assert conv.weight.abs().max() <= limit
    assert conv.weight.abs().max() > 0.9 * limit
