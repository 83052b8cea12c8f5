"""tdlib.segmentation: the weighted pixel loss and the pooled IoU of Experiment 3."""

import math

import pytest
import torch
import torch.nn.functional as F

from tdlib.segmentation import (
    ConfusionMatrix,
    confusion_matrix,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    weighted_pixel_cross_entropy,
)


def test_loss_averages_over_all_pixels_not_over_the_weights():
    # one image of 1x3 pixels, 3 classes; class 2 is "ignore" (weight 0)
    scores = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]], [[0.0, 0.0, 3.0]]]])  # (1, 3, 1, 3)
    labels = torch.tensor([[[0, 1, 2]]])
    weights = torch.tensor([0.5, 2.0, 0.0])
    p = torch.tensor([[math.exp(2) / (math.exp(2) + 2), math.exp(1) / (2 + math.exp(1)), 0.0]])
    hand = (0.5 * -math.log(p[0, 0]) + 2.0 * -math.log(p[0, 1]) + 0.0) / 3  # three pixels, ignore included
    loss = weighted_pixel_cross_entropy(scores, labels, weights)
    assert loss.item() == pytest.approx(hand, rel=1e-6)
    # PyTorch's weighted mean divides by the weights of the pixels (0.5 + 2 + 0) instead of by 3
    torch_mean = F.cross_entropy(scores, labels, weight=weights)
    assert torch_mean.item() == pytest.approx(hand * 3 / 2.5, rel=1e-6)
    assert loss.item() != pytest.approx(torch_mean.item())


def test_loss_gradient_ignores_ignore_pixels_and_checks_shapes():
    scores = torch.randn(2, 12, 4, 4, requires_grad=True)
    labels = torch.full((2, 4, 4), 11)
    labels[0, 0, 0] = 3
    w = torch.ones(12)
    w[11] = 0
    weighted_pixel_cross_entropy(scores, labels, w).backward()
    assert scores.grad.abs().flatten(2).sum(1).count_nonzero() == 1  # only the one labelled pixel
    with pytest.raises(ValueError, match=r"labels \(B, H, W\)"):
        weighted_pixel_cross_entropy(scores, labels[:, :2], w)
    with pytest.raises(ValueError, match="12 class weights"):
        weighted_pixel_cross_entropy(scores, labels, w[:11])


def test_iou_by_hand():
    labels = torch.tensor([[[0, 0, 1, 1, 2, 2]]])
    pred = torch.tensor([[[0, 1, 1, 1, 2, 0]]])
    cm = confusion_matrix(pred, labels, num_classes=4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    iou = iou_per_class(cm)
    # class 0: TP 1, union {0,1,5} = 3; class 1: TP 2, union 3; class 2: TP 1, union 2; class 3: absent
    assert iou[:3].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2]) and math.isnan(iou[3])
    assert mean_iou(iou, exclude=(2,)) == pytest.approx((1 / 3 + 2 / 3) / 2)  # the absent class is skipped
    assert pixel_accuracy(cm) == pytest.approx(4 / 6)
    scores = F.one_hot(pred, 4).permute(0, 3, 1, 2).float()  # argmax of scores = pred
    assert torch.equal(confusion_matrix(scores, labels, 4), cm)


def test_pooled_iou_equals_torchmetrics_jaccard_index():
    tm = pytest.importorskip("torchmetrics")
    torch.manual_seed(0)
    jaccard = tm.JaccardIndex(task="multiclass", num_classes=12, average=None)
    accuracy = tm.Accuracy(task="multiclass", num_classes=12, average="micro")
    ours = ConfusionMatrix()
    for _ in range(3):  # pooled over batches, not averaged per batch
        labels = torch.randint(0, 12, (4, 8, 8))
        scores = torch.randn(4, 12, 8, 8) + 2.0 * F.one_hot(labels, 12).permute(0, 3, 1, 2)
        jaccard.update(scores.argmax(1), labels)
        accuracy.update(scores.argmax(1), labels)
        ours.update(scores, labels)
    expected = jaccard.compute().double()
    torch.testing.assert_close(ours.iou(), expected)
    assert ours.mean_iou() == pytest.approx(float(expected[:11].mean()))  # ignore (11) left out
    assert ours.pixel_accuracy() == pytest.approx(float(accuracy.compute()))
