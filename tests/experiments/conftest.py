"""Fixtures of the experiment tests: the committed smoke networks in an empty results root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tdlib.book import results
from tdlib.book.chapters import settings
from tdlib.experiments import bu_vs_td
from tdlib.train import TrainConfig

#: The results cache committed with the repository (the smoke LeNetFC weights live in its bu-vs-td folder).
COMMITTED = Path(__file__).resolve().parents[2] / "data" / "results"


@pytest.fixture
def smoke_lenetfc(tmp_path, monkeypatch) -> dict[str, TrainConfig]:
    """An empty results root (``$TDLIB_RESULTS``) holding only the committed repeat-0 LeNetFC BU and TD of
    the bu-vs-td smoke grid on MNIST, weights and entries; their configurations by variant."""
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    out = {}
    for c in bu_vs_td.cell_configs(settings("bu-vs-td", "smoke")):
        if (c.dataset, c.model, c.seed, c.widths) != ("mnist", "lenetfc", 0, None) or c.variant not in ("bu", "td"):
            continue
        src = bu_vs_td.weights_path(c, COMMITTED)
        if not src.is_file():
            pytest.skip(f"the smoke weights {src} are not in the repository")
        dst = bu_vs_td.weights_path(c)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
        shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
        out[c.variant] = c
    return out


@pytest.fixture
def committed_results() -> Path:
    """The results cache committed with the repository (read only: never write into it)."""
    return COMMITTED
