"""Architectures chapter: parameter counts, FLOPs and input pyramids.

Everything here is a deterministic function of the code, computed live in seconds, so
nothing is cached: a change in the code shows up in the chapter (and fails nbval) at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from ..bench import flops_per_image
from ..data import dataset_info, load_arrays
from ..nets import count_parameters, get_model, model_info
from ..nets.layers import MERGES
from ..nets.params import VARIANT_NAMES
from ..nets.topdown import ARRANGEMENTS
from ..pyramid import DOWNSCALE_METHODS, pyramid


def costs(models: Sequence[str], arrangements: Sequence[str] = ARRANGEMENTS,
          merges: Sequence[str] = MERGES) -> pd.DataFrame:
    """Parameters and forward FLOPs per image of each BU and each (arrangement, merge) TD.

    Args:
        models: Registry names.
        arrangements: TD filter arrangements.
        merges: Resolution merges.

    Returns:
        Rows ``model, paper_name, variant, merge, params, mflops, params_vs_bu, flops_vs_bu``;
        the BU row has ``merge`` ``"-"``. FLOPs count convolutions and matrix products at
        the paper's input size (2 per multiply-add), for the network as defined.
    """
    cells = [(m, "bu", "-") for m in models] + [(m, a, g) for m in models for a in arrangements for g in merges]
    rows = []
    # disable=None: a progress bar on a terminal, none inside an executed notebook.
    for name, variant, merge in tqdm(cells, desc="architectures", leave=False, disable=None):
        torch.manual_seed(0)
        cfg = {} if variant == "bu" else {"merge": merge}
        model = get_model(name, variant, **cfg)  # type: ignore[arg-type]
        x = torch.rand(2, *model_info(name).input_shape)
        rows.append({"model": name, "paper_name": model_info(name).paper_name, "variant": VARIANT_NAMES[variant],
                     "merge": merge, "params": count_parameters(model),
                     "mflops": flops_per_image(model, x, train=False) / 1e6})
    df = pd.DataFrame(rows)
    bu = df[df.variant == "BU"].set_index("model")
    df["params_vs_bu"] = df.params / df.model.map(bu.params)
    df["flops_vs_bu"] = df.mflops / df.model.map(bu.mflops)
    return df


def example_image(dataset: str, index: int = 0) -> tuple[Tensor, str]:
    """A test image in [0, 1] as ``(1, C, H, W)`` and its class name (no mean subtracted)."""
    x, y = load_arrays(dataset, train=False)
    if not 0 <= index < len(x):
        raise ValueError(f"image_index must be in [0, {len(x)}), got {index}")
    img = torch.from_numpy(x[index]).permute(2, 0, 1).float().div(255).unsqueeze(0)
    return img, dataset_info(dataset).classes[int(y[index])]


def pyramids(image: Tensor, levels: int = 3, methods: Sequence[str] = DOWNSCALE_METHODS) -> dict[str, list[Tensor]]:
    """The input pyramid of ``image`` ``(1, C, H, W)`` for every downscale method."""
    return {m: pyramid(image, levels, m) for m in methods}
