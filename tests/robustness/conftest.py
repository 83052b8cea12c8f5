"""Networks worth attacking: LeNetFC BU and TD trained briefly on real MNIST (a few seconds each)."""

from __future__ import annotations

import pytest
import torch

from tdlib.train import TrainConfig, train


@pytest.fixture(scope="session")
def mnist_trained():
    """``{"bu": model, "td": model, "x": 16 test images, "y": labels}``; skips without MNIST offline."""
    from tdlib.data import DatasetNotFoundError, load_splits

    try:
        s = load_splits("mnist", seed=0, train_subset=4000, test_subset=64, download=False)
    except DatasetNotFoundError as e:
        pytest.skip(f"MNIST not available offline: {str(e)[:200]}")
    out = {}
    for variant in ("bu", "td"):
        cfg = TrainConfig("mnist", "lenetfc", variant, epochs=2, train_subset=4000, test_subset=64,
                          recalibrate_bn=True)  # short run: BatchNorm statistics from the data
        out[variant] = train(cfg, "cpu", progress=False).model.eval()
    with torch.no_grad():
        keep = (out["bu"](s.x_test).argmax(1) == s.y_test) & (out["td"](s.x_test).argmax(1) == s.y_test)
    out["x"], out["y"] = s.x_test[keep][:16], s.y_test[keep][:16]
    assert len(out["y"]) == 16, "the briefly trained networks should classify most test images"
    return out
