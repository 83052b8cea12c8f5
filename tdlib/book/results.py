"""The results cache: every experiment result as a readable JSON file with its provenance.

An entry is keyed by the experiment name and its full configuration (a JSON-able
mapping): ``data/results/<chapter>/<experiment>/<key>.json``, where ``key`` is a short
hash of the canonical configuration. The file holds the configuration, the result (a
table as a list of row records, or any JSON value) and the provenance: profile, git
revision, device, library versions, wall time and date. Files are written atomically
(temporary file, then rename), so an interrupted run leaves either the whole entry or
nothing, and a rerun computes only what is missing.

Example::

    from tdlib.book.results import cached
    df = cached("architectures", "costs", {"model": "lenetfc"}, lambda: make_table(), profile="cpu")
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import socket
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import atomic_write_text, repo_dir
from ..provenance import record
from . import layout

ROOT_ENV = "TDLIB_RESULTS"


def results_root() -> Path:
    """Where results live: ``$TDLIB_RESULTS``, else ``<repo>/data/results`` (committed)."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser()
    if (repo := repo_dir()) is not None:
        return repo / "data" / "results"
    return Path.home() / ".cache" / "tdlib" / "results"


def canonical(config: Mapping[str, Any]) -> str:
    """The configuration as canonical JSON (sorted keys, tuples as lists)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if hasattr(value, "item"):  # numpy and torch scalars
        return value.item()
    raise TypeError(f"configuration values must be JSON-able, got {type(value).__name__}: {value!r}")


def config_key(experiment: str, config: Mapping[str, Any]) -> str:
    """Short stable hash of an experiment name and its full configuration."""
    return hashlib.sha256(f"{experiment}\n{canonical(config)}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """One cached result.

    Attributes:
        chapter: Chapter that owns it.
        experiment: Experiment name.
        config: Its full configuration.
        result: A ``DataFrame`` (stored as row records) or a JSON value.
        provenance: See :func:`provenance`.
        path: The JSON file.
    """

    chapter: str
    experiment: str
    config: dict[str, Any]
    result: Any
    provenance: dict[str, Any]
    path: Path

    @property
    def table(self) -> pd.DataFrame:
        """The result as a table (a JSON object becomes one row)."""
        if isinstance(self.result, pd.DataFrame):
            return self.result
        return pd.DataFrame([self.result] if isinstance(self.result, dict) else self.result)


def entry_path(chapter: str, experiment: str, config: Mapping[str, Any], root: Path | None = None) -> Path:
    """The file of an entry (which may not exist yet)."""
    return (root or results_root()) / chapter / experiment / f"{config_key(experiment, config)}.json"


def _encode(result: Any) -> dict[str, Any]:
    if isinstance(result, pd.DataFrame):
        return {"kind": "table", "columns": list(result.columns),
                "rows": json.loads(result.to_json(orient="records", double_precision=15))}
    return {"kind": "value", "value": json.loads(json.dumps(result, default=_jsonable))}


def _decode(stored: dict[str, Any]) -> Any:
    if stored["kind"] == "table":
        return pd.DataFrame(stored["rows"], columns=stored["columns"])
    return stored["value"]


def load(path: Path) -> Entry:
    """Read one entry file."""
    data = json.loads(path.read_text())
    return Entry(data["chapter"], data["experiment"], data["config"], _decode(data["result"]),
                 data["provenance"], path)


def lookup(chapter: str, experiment: str, config: Mapping[str, Any], root: Path | None = None) -> Entry | None:
    """The cached entry, or ``None``."""
    path = entry_path(chapter, experiment, config, root)
    return load(path) if path.is_file() else None


def store(chapter: str, experiment: str, config: Mapping[str, Any], result: Any, prov: Mapping[str, Any],
          root: Path | None = None) -> Entry:
    """Write an entry atomically and return it."""
    path = entry_path(chapter, experiment, config, root)
    data = {"chapter": chapter, "experiment": experiment, "key": config_key(experiment, config),
            "config": json.loads(canonical(config)), "result": _encode(result), "provenance": dict(prov)}
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")
    return load(path)


def cached(chapter: str, experiment: str, config: Mapping[str, Any], compute: Callable[[], Any], *,
           profile: str, recompute: bool = False, device: str | None = None, root: Path | None = None) -> Entry:
    """Return the cached entry of ``(experiment, config)``, computing and storing it if missing.

    Args:
        chapter: Owner chapter (the folder under the results root).
        experiment: Experiment name.
        config: The full configuration; every value that changes the result belongs here.
        compute: Produces the result (a ``DataFrame`` or a JSON-able value).
        profile: Profile that asked for it (recorded in the provenance).
        recompute: Compute and overwrite even when cached.
        device: Device name for the provenance (default: CUDA if available, else CPU).
        root: Results root (default :func:`results_root`).
    """
    if not recompute:
        hit = lookup(chapter, experiment, config, root)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    result = compute()
    return store(chapter, experiment, config, result, record(profile, time.perf_counter() - t0, device), root)


def entries(chapter: str | None = None, root: Path | None = None) -> list[Entry]:
    """All cached entries (of one chapter), sorted by path; unreadable files are skipped."""
    base = root or results_root()
    pattern = f"{chapter}/*/*.json" if chapter else "*/*/*.json"
    out = []
    for path in sorted(base.glob(pattern)):
        try:
            out.append(load(path))
        except (OSError, ValueError, KeyError):
            continue
    return out


def prefer_complete(entries: Sequence[Entry], group: Callable[[Entry], Hashable],
                    candidates: Callable[[Hashable, list[Entry]], Sequence[Sequence[Entry | None]]]) -> list[Entry]:
    """The entries, with each group replaced by its higher-fidelity runs where a whole set of them is cached.

    The pages show, per cell, the highest-fidelity result cached (the ``paper`` entry where it
    exists), but a comparison must not mix profiles inside it: so a group (e.g. one data set
    and model, BU and TD together) switches only as a whole, to every *complete* candidate set
    (e.g. one per repeat in which every member was cached); a group without one stays as it is.
    Nothing is computed here.

    Args:
        entries: The entries of a reduced grid, in order.
        group: The group of an entry (a hashable key).
        candidates: For a group's key and its entries, the candidate sets: lists of looked-up
            entries, ``None`` where one is not cached.
    """
    groups: dict[Hashable, list[Entry]] = {}
    for e in entries:
        groups.setdefault(group(e), []).append(e)
    out: list[Entry] = []
    for key, members in groups.items():
        complete = [list(c) for c in candidates(key, members) if c and all(e is not None for e in c)]
        out += [e for c in complete for e in c] if complete else members
    return out


def combine(found: Iterable[Entry]) -> pd.DataFrame:
    """The tables of several entries stacked into one."""
    tables = [e.table for e in found]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _span(first: str, last: str) -> str:
    """``first to last``, or one date when they are equal."""
    return first if first == last else f"{first} to {last}"


def provenance_summary(found: Iterable[Entry]) -> dict[str, str]:
    """Where the entries a page shows come from: how many, devices, revisions, torch, compute time, dates."""
    provs = [e.provenance for e in found]
    if not provs:
        return {}
    dates = sorted(p["date"][:10] for p in provs)
    return {"results": f"{len(provs)} cached (profile {', '.join(sorted({p['profile'] for p in provs}))})",
            "computed on": "; ".join(sorted({p["device"] for p in provs})),
            "git": ", ".join(sorted({p["git"] for p in provs})),
            "torch": ", ".join(sorted({p["versions"]["torch"] for p in provs})),
            "compute time": f"{sum(p['wall_seconds'] for p in provs):,.1f} s",
            "dates": _span(dates[0], dates[-1])}


def provenance_table(found: Iterable[Entry]) -> pd.DataFrame:
    """The entries grouped by chapter, profile, device, revision and torch: count, compute hours, dates."""
    keys = ["chapter", "profile", "device", "git", "torch"]
    rows = [{"chapter": e.chapter, "profile": e.provenance["profile"], "device": e.provenance["device"],
             "git": e.provenance["git"], "torch": e.provenance["versions"]["torch"],
             "hours": e.provenance["wall_seconds"] / 3600, "date": e.provenance["date"][:10]} for e in found]
    if not rows:
        return pd.DataFrame(columns=[*keys, "results", "hours", "dates"])
    out = (pd.DataFrame(rows).groupby(keys, sort=True)
           .agg(results=("date", "size"), hours=("hours", "sum"), first=("date", "min"), last=("date", "max"))
           .round({"hours": 2}).reset_index())
    out["dates"] = [_span(a, b) for a, b in zip(out["first"], out["last"], strict=True)]
    return out.drop(columns=["first", "last"])


def save_table(chapter: str, name: str, table: pd.DataFrame, root: Path | None = None) -> Path:
    """Save a chapter's headline table as ``<root>/<chapter>/<name>.csv`` (atomically).

    An unchanged table is not rewritten, so re-executing a chapter (or testing it with
    nbval) leaves the committed file alone.
    """
    path = (root or results_root()) / chapter / f"{name}.csv"
    text = table.to_csv(index=False)
    if not (path.is_file() and path.read_text() == text):
        atomic_write_text(path, text)
    return path


def status(root: Path | None = None) -> pd.DataFrame:
    """What is cached per chapter and profile, and what each profile still lacks.

    Returns:
        One row per (chapter, profile) with ``planned`` (the cells the profile needs, from the
        chapter's planner), ``missing`` (planned but not cached yet), ``cached`` (planned and
        cached, whatever profile computed them; for a chapter without a planner, its entries of
        that profile) and ``other`` (that profile's entries that the plan does not list: the
        cached parts of sharded cells, which show a long cell's progress, and the cells of
        earlier grids).
    """
    from .chapters import PROFILES, notebook_chapters, settings

    rows = []
    found = entries(root=root)
    for ch in notebook_chapters():
        for profile in PROFILES:
            planned = ch.plan(settings(ch.name, profile)) if ch.planner else []
            keys = {(exp, config_key(exp, cfg)) for exp, cfg in planned}
            missing = sum(lookup(ch.name, exp, cfg, root) is None for exp, cfg in planned)
            mine = [e for e in found if e.chapter == ch.name and e.provenance.get("profile") == profile]
            other = sum((e.experiment, config_key(e.experiment, e.config)) not in keys for e in mine) if planned else 0
            rows.append({"chapter": ch.name, "profile": profile,
                         "cached": len(planned) - missing if planned else len(mine), "planned": len(planned),
                         "missing": missing, "other": other})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Checkpoint:
    """What a training checkpoint says about its run (:func:`read_checkpoint`)."""

    config: dict[str, Any]
    #: Epochs behind it; one saved within an epoch counts that epoch's batches done as a fraction (3.25).
    epochs_done: float
    #: Median training seconds of its finished epochs; NaN before the first one ends.
    seconds_per_epoch: float
    #: The machine that trained it (provenance ``device``); empty from a checkpoint of an older revision.
    device: str


def read_checkpoint(path: Path) -> Checkpoint | None:
    """The run behind a training checkpoint (``<key>.ckpt``, written by :func:`tdlib.train.train`);
    None when it cannot be read."""
    import statistics

    import torch  # only here: the rest of the cache is plain JSON

    try:  # mmap: only the small fields are read from a checkpoint of many megabytes
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        mid = state.get("mid")
        part = mid["step"] / mid["steps"] if mid else 0.0
        seconds = [float(r["seconds"]) for r in state["rows"]]
        return Checkpoint(dict(state["config"]), round(int(state["epochs_done"]) + part, 2),
                          statistics.median(seconds) if seconds else float("nan"), str(state.get("device", "")))
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def in_progress(root: Path | None = None) -> pd.DataFrame:
    """The training runs that stopped midway and will resume: their checkpoints.

    A long run (:func:`tdlib.train.train` with ``checkpoint=``) keeps ``<key>.ckpt`` beside
    its future entry until it ends; a run killed midway, or stopped at the end of a working
    session and committed, resumes from it on the next call.

    Returns:
        One row per checkpoint, sorted by path: ``chapter``, ``experiment``, ``key``, the
        run's ``dataset``, ``model`` and ``variant``, ``epochs_done`` of ``epochs``, ``mb`` (file
        size) and ``modified`` (UTC). Empty (same columns) when nothing is in progress.
    """
    columns = ["chapter", "experiment", "key", "dataset", "model", "variant", "epochs_done", "epochs", "mb",
               "modified"]
    base = root or results_root()
    rows = []
    for path in sorted(base.glob("*/*/*.ckpt")):
        if (found := read_checkpoint(path)) is None:
            continue
        config, done = found.config, found.epochs_done
        stat = path.stat()
        rows.append({"chapter": path.parent.parent.name, "experiment": path.parent.name, "key": path.stem,
                     "dataset": config.get("dataset"), "model": config.get("model"),
                     "variant": config.get("variant"), "epochs_done": done, "epochs": config.get("epochs"),
                     "mb": round(stat.st_size / 2**20, 1),
                     "modified": time.strftime("%Y-%m-%d %H:%M", time.gmtime(stat.st_mtime))})
    return pd.DataFrame(rows, columns=columns)


#: The file in a results root whose presence asks the trainings that write there to stop
#: (:func:`request_stop`, ``python -m tdlib stop``); never committed.
STOP_FILE = "STOP"


def stop_path(root: Path | None = None) -> Path:
    """The stop request's file: ``<results root>/STOP``."""
    return (root or results_root()) / STOP_FILE


def request_stop(root: Path | None = None) -> Path:
    """Ask every training that writes to this results root to stop: each saves its state to its
    checkpoint at its next batch and ends (:class:`StopRequest`); a grid's other cells do not
    start. ``python -m tdlib run`` removes the request when it starts, so the same command resumes.

    Returns:
        The request's file (it holds the time and host of the request).
    """
    path = stop_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, f"stop requested {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {socket.gethostname()}\n")
    return path


def clear_stop(root: Path | None = None) -> str | None:
    """Remove a stop request; its text, or None when there was none."""
    path = stop_path(root)
    try:
        text = path.read_text().strip()
        path.unlink()
    except FileNotFoundError:
        return None
    return text


class StopRequest:
    """True once a stop is requested for a results root (its ``STOP`` file exists): the ``stop``
    predicate of :func:`tdlib.train.train`. It is asked after every batch, so it looks at the
    file system at most every ``interval`` seconds.

    Args:
        root: The results root (default: :func:`results_root` when it is created).
        interval: Seconds between two looks at the file.
    """

    def __init__(self, root: Path | None = None, interval: float = 2.0) -> None:
        self.path, self.interval = stop_path(root), interval
        self._next, self._requested = 0.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._requested and now >= self._next:
            self._requested, self._next = self.path.is_file(), now + self.interval
        return self._requested


class ChapterRun:
    """A chapter's header: its profile, its settings and the provenance of the cached results it shows.

    Create it in a chapter's first code cell and ``display(run.header(found))``. Nothing in
    the header depends on when or where the chapter is executed, so re-executing an unchanged
    chapter over an unchanged cache reproduces its notebook byte for byte; the execution
    itself (date, wall time, revision) goes to the runner's log (:data:`tdlib.book.runner.RUN_LOG`).
    """

    PHRASES = {"smoke": "a smoke run on tiny subsets, not a result",
               "cpu": "a reduced run sized for a 2-core CPU", "paper": "the paper's settings"}

    def __init__(self, chapter: str, profile: str, settings: Mapping[str, Any] | None = None) -> None:
        from .chapters import check_profile

        self.chapter, self.profile = chapter, check_profile(profile)
        self.settings = {k: v for k, v in (settings or {}).items() if k != "profile"}

    def header(self, found: Iterable[Entry] = ()) -> layout.Html:
        """One visible line (the profile and what it means), then a collapsible block with the
        settings and the provenance of the cached results ``found`` (:func:`provenance_summary`)."""
        line = f"<strong>Profile {layout.code(self.profile)}</strong>: {self.PHRASES[self.profile]}."
        rows = {k: layout.code(repr(v)) for k, v in self.settings.items()}
        summary = provenance_summary(found)
        rows.update({k: html.escape(v, quote=False) for k, v in summary.items()} if summary else
                    {"cached results": "none: every number on this page is computed when the chapter runs"})
        return layout.details(line, rows)
