"""Mini-batches of in-memory tensors, as Keras ``fit``."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def iterate_batches(
    x: Tensor,
    y: Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of mini-batches, as Keras ``fit``: fresh shuffle per call, last partial batch kept.

    The tensors are already in memory (possibly on the GPU), so indexing a
    whole batch at once is much faster than a ``DataLoader``'s per-sample
    ``__getitem__`` and collation, and needs no worker processes.

    Args:
        x: ``(N, ...)`` inputs.
        y: ``(N, ...)`` targets.
        batch_size: Batch size; the last batch has ``N mod batch_size`` samples if non-zero.
        shuffle: Draw a new random order (with ``generator``, on CPU) for this epoch.
        generator: Optional CPU generator for the order.

    Yields:
        ``(x_batch, y_batch)`` pairs.
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x has {n} samples but y has {y.shape[0]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not shuffle:
        for start in range(0, n, batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx.to(x.device)], y[idx.to(y.device)]
