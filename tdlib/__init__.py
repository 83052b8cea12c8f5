"""tdlib: Top-Down Networks (coarse-to-fine CNNs, Lelekas et al. 2020) in PyTorch.

Main entry points::

    from tdlib import get_model, list_models, to_topdown
    bu = get_model("nin_light")            # a bottom-up baseline of the paper
    td = to_topdown(bu, arrangement="td")  # its top-down twin (also: "uni", "rev")
"""

from .models import BottomUpNet, build_bottomup, count_parameters, describe, get_model, list_models
from .spec import BUSpec, Stage, Stem, Unit
from .topdown import TopDownNet, to_topdown

__version__ = "0.1.0"

__all__ = [
    "BUSpec",
    "BottomUpNet",
    "Stage",
    "Stem",
    "TopDownNet",
    "Unit",
    "build_bottomup",
    "count_parameters",
    "describe",
    "get_model",
    "list_models",
    "to_topdown",
]
