"""tdlib.data.batching: Keras-like mini-batches."""

from __future__ import annotations

import pytest
import torch

from tdlib.data import iterate_batches


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shuffle", [True, False])
def test_iterate_batches(shuffle):
    n = 10
    x = torch.arange(n).float()[:, None] * 10
    y = torch.arange(n)
    g = _gen(8)
    epochs = []
    for _ in range(2):
        batches = list(iterate_batches(x, y, 4, shuffle=shuffle, generator=g))
        assert [len(bx) for bx, _ in batches] == [4, 4, 2]  # last partial batch kept
        for bx, by in batches:
            assert torch.equal(bx[:, 0], by.float() * 10)  # x and y stay aligned
        order = torch.cat([by for _, by in batches])
        assert sorted(order.tolist()) == list(range(n))  # each index exactly once
        epochs.append(order)
    if shuffle:
        assert not torch.equal(epochs[0], epochs[1])  # reshuffled every epoch
        again = torch.cat(
            [by for _, by in iterate_batches(x, y, 4, shuffle=True, generator=_gen(8))]
        )
        assert torch.equal(again, epochs[0])
    else:
        assert epochs[0].tolist() == list(range(n))
    with pytest.raises(ValueError):
        next(iterate_batches(x, y[:5], 4, shuffle=False))
