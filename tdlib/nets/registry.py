"""The model registry (timm's pattern): a dict of model descriptions, and nothing that builds networks.

:mod:`tdlib.nets.zoo` registers the paper's architectures here; anyone can add their own
with :func:`register_model`; :mod:`tdlib.nets.factory` builds a registered model's BU
network or TD twin (:func:`~tdlib.nets.factory.get_model`). Importing no network code,
this module cannot be part of an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .spec import BUSpec


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
    """

    name: str
    spec: Callable[..., BUSpec]
    input_shape: tuple[int, int, int]
    paper_name: str
    summary: str
    paper_variant: dict[str, dict[str, Any]]


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> ModelInfo:
    """Add a model to the registry (names are unique)."""
    if info.name in _REGISTRY:
        raise ValueError(f"model {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def list_models() -> list[str]:
    """Names of the registered BU architectures, sorted."""
    return sorted(_REGISTRY)


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; a ValueError lists the valid names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(list_models())}") from None
