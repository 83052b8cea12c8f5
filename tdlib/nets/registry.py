"""The model registry (timm's pattern): a dict of model descriptions, and nothing that builds networks.

:mod:`tdlib.nets.zoo` registers the paper's architectures here; anyone can add their own
with :func:`register_model`; :mod:`tdlib.nets.factory` builds a registered model's BU
network or TD twin (:func:`~tdlib.nets.factory.get_model`). Importing no network code,
this module cannot be part of an import circle. Segmentation networks (Experiment 3) are
registered by :mod:`tdlib.nets.segmentation`; :func:`list_models` lists one task at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .spec import BUSpec

if TYPE_CHECKING:
    from torch import nn

Task = Literal["classification", "segmentation"]
TASKS: tuple[str, ...] = ("classification", "segmentation")


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry.

    Attributes:
        name: Registry name.
        spec: Factory of the BU description (accepts ``in_channels``, ``num_classes``).
        input_shape: The input ``(C, H, W)`` of the paper's experiments.
        paper_name: Name in the paper's Table 1.
        summary: One line.
        paper_variant: TD builder options of the paper-implied variant per TD variant
            (see :func:`get_model`).
        task: ``"classification"`` (output ``(B, num_classes)``) or ``"segmentation"``
            (output ``(B, num_classes, H, W)``, per-pixel scores).
        build: Builds the registered network (variant ``"bu"``) from its description
            instead of :func:`~tdlib.nets.bottomup.build_bottomup`: networks that are not a
            BU classifier (the segmentation FCN and U-net, whose description is their
            encoder; the TD segmentation network). ``None``: ``build_bottomup``.
        td_options: :func:`~tdlib.nets.topdown.to_topdown` options every TD variant of
            this model gets (e.g. the segmentation head); ``None``: the model has no TD
            variants.
    """

    name: str
    spec: Callable[..., BUSpec]
    input_shape: tuple[int, int, int]
    paper_name: str
    summary: str
    paper_variant: dict[str, dict[str, Any]]
    task: Task = "classification"
    build: Callable[[BUSpec], nn.Module] | None = None
    td_options: dict[str, Any] | None = field(default_factory=dict)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> ModelInfo:
    """Add a model to the registry (names are unique)."""
    if info.task not in TASKS:
        raise ValueError(f"model {info.name!r}: unknown task {info.task!r}; expected one of {', '.join(TASKS)}")
    if info.name in _REGISTRY:
        raise ValueError(f"model {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def list_models(task: Task | None = "classification") -> list[str]:
    """Names of the registered models of one task, sorted.

    Args:
        task: ``"classification"`` (the default: the paper's BU classifiers, whose TD
            twins Experiments 1 and 2 compare), ``"segmentation"`` (Experiment 3), or
            ``None`` for every registered model.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)} or None")
    return sorted(name for name, info in _REGISTRY.items() if task is None or info.task == task)


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; a ValueError lists the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(list_models(None))}") from None
