"""Networks: bottom-up descriptions, their layers, the ONE top-down builder, and the registry.

Modules, from the bottom of the import order to the top:

- :mod:`~tdlib.nets.spec`: :class:`BUSpec`, :class:`Stage`, :class:`Unit`, :class:`Stem`, the
  plain-data description of a BU network;
- :mod:`~tdlib.nets.layers`: the layers both directions use (TF-'SAME' convs, units, residual
  blocks, merges, heads, Keras initialisers);
- :mod:`~tdlib.nets.build`: units, stems and heads of a description, input checks, parameter counts;
- :mod:`~tdlib.nets.bottomup`: :class:`BottomUpNet` and :func:`describe` (a description read
  back from a BU net or a torchvision ResNet);
- :mod:`~tdlib.nets.topdown`: :func:`to_topdown`, the TD network of any description;
- :mod:`~tdlib.nets.progressive`: progressive growing of a TD network (thesis §3.2.4):
  :class:`Growth` (stages and fade-in on the built network), :func:`freeze_grown`,
  :class:`GrowthSchedule`;
- :mod:`~tdlib.nets.registry`: :class:`ModelInfo` by name (:func:`register_model`,
  :func:`list_models`, :func:`model_info`); builds nothing;
- :mod:`~tdlib.nets.zoo`: the paper's BU descriptions (LeNetFC, NIN-light, NIN, ResNet32,
  ResNet18-light), registered;
- :mod:`~tdlib.nets.segmentation`: Experiment 3's FCN and U-net on a shared encoder
  description, and the TD segmentation network (``to_topdown`` of that encoder), registered;
- :mod:`~tdlib.nets.factory`: :func:`get_model` (a BU network or a TD twin by name), above
  both builders;
- :mod:`~tdlib.nets.params`: the paper's Table 1 beside ours (imports pandas; not re-exported).
"""

from .bottomup import BottomUpNet, build_bottomup, describe, load_torchvision_weights
from .build import count_all, count_parameters
from .factory import VARIANTS, Variant, get_model, get_spec
from .progressive import GROW_REGIMES, Frozen, Growth, GrowthSchedule, freeze_grown, step_stages
from .registry import ModelInfo, list_models, model_info, register_model
from .segmentation import FCN, UNet, seg_encoder_spec
from .spec import BUSpec, Stage, Stem, Unit
from .topdown import TopDownNet, to_topdown

__all__ = [
    "FCN",
    "GROW_REGIMES",
    "VARIANTS",
    "BUSpec",
    "BottomUpNet",
    "Frozen",
    "Growth",
    "GrowthSchedule",
    "ModelInfo",
    "Stage",
    "Stem",
    "TopDownNet",
    "UNet",
    "Unit",
    "Variant",
    "build_bottomup",
    "count_all",
    "count_parameters",
    "describe",
    "freeze_grown",
    "get_model",
    "get_spec",
    "list_models",
    "load_torchvision_weights",
    "model_info",
    "register_model",
    "seg_encoder_spec",
    "step_stages",
    "to_topdown",
]
