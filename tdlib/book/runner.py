"""Execute chapter notebooks with papermill: ``python -m tdlib run``.

A chapter runs with its profile (default: the profile its committed outputs come from),
``recompute`` and any of its knobs; the executed notebook replaces ``book/<name>.ipynb``
(or goes to ``output_dir``). With the results cache warm, a chapter only loads and plots.
Writing is atomic: a failed run leaves the committed notebook untouched and keeps the
failed one next to the error message.

The executed notebook holds nothing of the execution itself: :func:`strip_execution` removes
papermill's and the kernel's timestamps, durations and paths, so re-executing a chapter whose
code and cached results have not changed reproduces the committed notebook byte for byte. Each
run is logged instead, one JSON line in :data:`RUN_LOG` next to the notebook (ignored by git):
its date, chapter, profile, parameters, wall time, code revision and device.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..provenance import device_name, git_revision
from .chapters import Chapter, check_profile, get_chapter, notebook_chapters

RUNTIME_PARAMETERS = ("profile", "recompute")
#: The run log, relative to the executed notebook's folder (``book/_build/runs.jsonl``).
RUN_LOG = Path("_build") / "runs.jsonl"
#: What papermill records about one execution in the notebook's metadata.
EXECUTION_KEYS = ("start_time", "end_time", "duration", "input_path", "output_path")
#: The id of papermill's injected-parameters cell (papermill draws a random one).
INJECTED_ID = "injected-parameters"


class ChapterFailed(RuntimeError):
    """A chapter's notebook raised; the message names the chapter and the cell."""


@dataclass(frozen=True)
class RunReport:
    """What one chapter run did."""

    chapter: str
    profile: str
    parameters: dict[str, Any]
    output: Path
    seconds: float


def parse_value(text: str) -> Any:
    """A ``-p key=value`` value: a Python literal if it parses as one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["a=1", "b=mnist"]`` -> ``{"a": 1, "b": "mnist"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"parameters are given as key=value, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def notebook_parameters(chapter: Chapter) -> dict[str, str]:
    """The parameters declared in a chapter's cell tagged ``parameters``, with their defaults."""
    import papermill

    if not chapter.path.is_file():
        raise FileNotFoundError(f"chapter {chapter.name!r} has no notebook at {chapter.path}")
    return {name: p["default"] for name, p in papermill.inspect_notebook(str(chapter.path)).items()}


def resolve(chapter: Chapter, profile: str | None, params: Mapping[str, Any], recompute: bool) -> dict[str, Any]:
    """The parameters papermill injects; unknown names raise a ValueError that lists the valid ones."""
    declared = notebook_parameters(chapter)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for chapter {chapter.name!r}; "
                         f"expected {', '.join(declared)}")
    missing = [p for p in RUNTIME_PARAMETERS if p not in declared]
    if missing:
        raise ValueError(f"chapter {chapter.name!r} must declare {', '.join(missing)} in its parameters cell")
    return {**params, "profile": check_profile(profile or chapter.default_profile or "cpu"), "recompute": recompute}


def strip_execution(nb: Any) -> Any:
    """Remove what one execution leaves in a notebook, in place, and hide the injected parameters.

    Drops the cells' ``execution`` (kernel timestamps) and ``papermill`` (start, end, duration)
    metadata and the notebook's papermill times and paths; gives papermill's injected-parameters
    cell a fixed id and the tag ``remove-cell`` (each chapter's header shows the settings).

    Args:
        nb: An ``nbformat`` notebook.

    Returns:
        The same notebook.
    """
    for key in EXECUTION_KEYS:
        nb.metadata.get("papermill", {}).pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            cell.id = INJECTED_ID
            if "remove-cell" not in tags:
                cell.metadata["tags"] = [*tags, "remove-cell"]
    return nb


def _finish(tmp: Path) -> None:
    """Strip the execution from papermill's output file (:func:`strip_execution`)."""
    import nbformat

    nbformat.write(strip_execution(nbformat.read(tmp, as_version=4)), tmp)


def _log(report: RunReport, started: _dt.datetime) -> None:
    """Append one line about this run to :data:`RUN_LOG` next to the executed notebook."""
    log = report.output.parent / RUN_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    line = {"date": f"{started:%Y-%m-%dT%H:%M:%SZ}", "chapter": report.chapter, "profile": report.profile,
            "parameters": report.parameters, "seconds": round(report.seconds, 1), "git": git_revision(),
            "device": device_name(), "output": str(report.output)}
    with log.open("a") as f:
        f.write(json.dumps(line, default=repr) + "\n")


def run_chapter(name: str, profile: str | None = None, params: Mapping[str, Any] | None = None, *,
                recompute: bool = False, output_dir: Path | None = None, log: bool = False) -> RunReport:
    """Execute one chapter notebook with papermill.

    Args:
        name: Chapter name.
        profile: ``smoke``, ``cpu`` or ``paper``; default: the chapter's committed profile.
        params: Knob values (names from the notebook's parameters cell).
        recompute: Ignore cached results.
        output_dir: Write the executed notebook there instead of over ``book/<name>.ipynb``.
        log: Stream cell outputs to the terminal.

    Returns:
        What the run did; the same goes to :data:`RUN_LOG`.

    Raises:
        ValueError: Unknown chapter, profile or parameter (the message lists the valid ones).
        ChapterFailed: A cell raised; the message names the chapter, the cell and the error.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    chapter = get_chapter(name)
    if not chapter.notebook:
        raise ValueError(f"chapter {name!r} is text, not a notebook; notebook chapters: "
                         f"{', '.join(c.name for c in notebook_chapters())}")
    parameters = resolve(chapter, profile, params or {}, recompute)
    target = (Path(output_dir) if output_dir else chapter.path.parent) / chapter.path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{chapter.name}.", suffix=".ipynb", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600
    started, t0 = _dt.datetime.now(_dt.UTC), time.perf_counter()
    try:
        papermill.execute_notebook(str(chapter.path), tmp, parameters=parameters, kernel_name="python3",
                                   cwd=str(chapter.path.parent), progress_bar=False, log_output=log)
        _finish(Path(tmp))
    except PapermillExecutionError as e:
        failed = Path(tempfile.gettempdir()) / f"tdlib-failed-{chapter.name}.ipynb"
        os.replace(tmp, failed)
        raise ChapterFailed(f"chapter {name!r} failed in cell {e.cell_index} (execution count {e.exec_count}): "
                            f"{e.ename}: {e.evalue}; the failed notebook is {failed}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    report = RunReport(chapter.name, parameters["profile"], parameters, target, time.perf_counter() - t0)
    _log(report, started)
    return report


def run_chapters(names: Sequence[str] = (), profile: str | None = None, params: Mapping[str, Any] | None = None,
                 *, recompute: bool = False, output_dir: Path | None = None, log: bool = False) -> list[RunReport]:
    """Run several chapters (all notebook chapters when ``names`` is empty), stopping at a failure.

    Every name, the profile and every parameter are checked before anything runs; a
    parameter must be declared by every chapter asked for.
    """
    chapters = [get_chapter(n) for n in names] if names else notebook_chapters()
    if profile is not None:
        check_profile(profile)
    for c in chapters:
        if not c.notebook:
            raise ValueError(f"chapter {c.name!r} is text, not a notebook; notebook chapters: "
                             f"{', '.join(x.name for x in notebook_chapters())}")
        resolve(c, profile, params or {}, recompute)
    return [run_chapter(c.name, profile, params, recompute=recompute, output_dir=output_dir, log=log)
            for c in chapters]
