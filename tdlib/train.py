"""Training primitives shared by the benchmark and the training engine."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def make_optimizer(model: nn.Module, lr: float = 0.1, momentum: float = 0.9, nesterov: bool = True) -> torch.optim.SGD:
    """SGD with Nesterov momentum, as the original code (Keras ``SGD(lr, 0.9, nesterov=True)``)."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> Tensor:
    """One SGD step on a batch: cross-entropy on the model's scores, backward, update.

    Args:
        model: In train mode.
        optimizer: Its optimiser.
        x: Images ``(B, C, H, W)``.
        y: Labels ``(B,)``.

    Returns:
        The loss (a detached scalar tensor).
    """
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()
