"""The per-input-scale ablation (paper §4.2, Figures 6 and 12): which pyramid input is most vulnerable.

A TD network reads its image at several scales. The per-scale twin
(:func:`tdlib.nets.topdown.per_scale_twin`, the original's ``_multi`` models) takes one
full-resolution image per scale and downscales each inside, so an adversarial can be fed
to some scales and the clean image to the others (``shared/reference/experiments.md`` §6.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import pandas as pd
import torch
from torch import Tensor

from ..nets.topdown import TopDownNet, per_scale_twin
from .model import Classifier, check_images

#: Names of the first three scales, full resolution first (the original's input_1, input_2, input_4).
SCALE_NAMES = ("high", "medium", "low")


def feeds(levels: int = 3) -> list[tuple[str, tuple[int, ...] | None]]:
    """The ablation's feeds in the original's order: ``(name, perturbed scales)``.

    Feed 0 is the single-input network on clean images (``None``); feed 1 the per-scale twin
    with every input clean (``()``); then every non-empty set of perturbed scales, by size,
    then by position. With 3 scales: 2-4 one input (high, medium, low), 5-7 two
    (high+medium, high+low, medium+low), 8 all three.
    """
    names = SCALE_NAMES if levels <= 3 else tuple(f"x{2**k}" for k in range(levels))
    out: list[tuple[str, tuple[int, ...] | None]] = [("single-input, clean", None), ("all clean", ())]
    for size in range(1, levels + 1):
        for subset in combinations(range(levels), size):
            out.append(("+".join(names[k] for k in subset), subset))
    return out


def per_scale_ablation(td_model: TopDownNet, clean: Tensor, adversarial: Tensor, labels: Tensor, *,
                       mean: Tensor | None = None, batch_size: int = 512,
                       select: Sequence[int | str] | None = None) -> pd.DataFrame:
    """Accuracy of a TD network when the adversarial reaches only some of its pyramid inputs.

    Args:
        td_model: A trained single-input TD network.
        clean: Raw clean images ``(N, C, H, W)`` in [0, 1].
        adversarial: Raw adversarials ``(N, C, H, W)``: the kept adversarial where an attack
            succeeded, the clean image elsewhere (:attr:`MinimalPerturbation.adversarials`).
        labels: True labels ``(N,)``.
        mean: Training mean subtracted inside (CIFAR-10), or None.
        batch_size: Images per forward pass.
        select: Feed indices or names to compute (default all).

    Returns:
        One row per feed: ``feed`` (index), ``perturbed`` (its name), ``accuracy`` (% of N).
    """
    if not isinstance(td_model, TopDownNet) or td_model.config["inputs"] != "single":
        raise ValueError("per_scale_ablation needs a single-input TopDownNet (to_topdown(..., inputs='single'))")
    check_images(clean, labels)
    check_images(adversarial, labels)
    if adversarial.shape != clean.shape:
        raise ValueError(f"adversarial {tuple(adversarial.shape)} and clean {tuple(clean.shape)} differ in shape")
    all_feeds = feeds(td_model.levels)
    wanted = range(len(all_feeds)) if select is None else [_feed_index(f, all_feeds) for f in select]
    single = Classifier(td_model, mean, batch_size)
    twin = Classifier(per_scale_twin(td_model), mean, batch_size)
    rows = []
    for i in wanted:
        name, perturbed = all_feeds[i]
        if perturbed is None:
            pred = single.predict(clean)
        else:
            pred = _predict_per_scale(twin, [adversarial if k in perturbed else clean for k in range(td_model.levels)])
        accuracy = 100.0 * float((pred.cpu() == labels.cpu()).float().mean())
        rows.append({"feed": i, "perturbed": name, "accuracy": accuracy})
    return pd.DataFrame(rows)


def _feed_index(feed: int | str, all_feeds: list[tuple[str, tuple[int, ...] | None]]) -> int:
    names = [n for n, _ in all_feeds]
    if isinstance(feed, int) and 0 <= feed < len(all_feeds):
        return feed
    if isinstance(feed, str) and feed in names:
        return names.index(feed)
    raise ValueError(f"unknown feed {feed!r}; expected an index 0-{len(all_feeds) - 1} or one of {', '.join(names)}")


@torch.inference_mode()
def _predict_per_scale(clf: Classifier, inputs: list[Tensor]) -> Tensor:
    """Labels of a per-scale network fed one image tensor per scale, in batches."""
    n, bs = inputs[0].shape[0], clf.batch_size
    out = [clf.module([x[i : i + bs].to(clf.device) for x in inputs]).argmax(1) for i in range(0, n, bs)]
    clf.queries += n
    return torch.cat(out)
