"""Fill a chapter's grid cell by cell, here or on Dask, and say what a grid still costs.

A grid is a list of independent cells: each ``(experiment, config)`` pair of a chapter's plan
(:meth:`~tdlib.book.chapters.Chapter.plan`) is one entry of the results cache, and the
chapter's cell runner (:attr:`~tdlib.book.chapters.Chapter.cell_runner`) computes one of them.
:func:`run_cells` finds the cells the cache lacks and computes them:

- ``executor="local"``: one after the other in this process (Dask is not even imported);
- ``executor="dask"``: one Dask task per cell, on a ``LocalCluster`` of ``workers``
  single-threaded worker processes, or on the workers of a running scheduler
  (``scheduler="tcp://host:8786"``, or the path of its scheduler file).

What the Dask path guarantees:

- **One results folder.** Every task carries the results root of the caller
  (:func:`~tdlib.book.results.results_root`: ``$TDLIB_RESULTS``, else the checkout's
  ``data/results``) and sets ``TDLIB_RESULTS`` on its worker while it computes. On a cluster
  that folder must be on a file system every worker sees at the same path.
- **Nothing twice.** A cached cell is not submitted, and a worker checks the cache again before
  computing. Each cell is one Dask key (``chapter/experiment/hash``), so it is never submitted
  twice, not even by two clients of one scheduler.
- **No partial entries.** Entries are written atomically (temporary file, then rename). A worker
  killed mid-cell leaves no entry; the scheduler reruns the cell on another worker (up to
  ``distributed.scheduler.allowed-failures`` times, 3 by default), a training run resuming from
  its last epoch checkpoint, and the worker that completes a cell removes the temporary files
  a killed attempt left beside it. A cell that raises is retried ``retries`` times.
- **Prerequisites first.** Cells that load other cached results (attacks and Grad-CAM load the
  trained bu-vs-td networks; a sharded attack cell merges its parts,
  :attr:`~tdlib.book.chapters.Chapter.requires`) wait for those cells, which wait for their own
  prerequisites in turn; a network several cells need is trained once.
- **GPUs.** ``gpus=N`` starts the workers (``workers``, default ``N``) with
  ``CUDA_VISIBLE_DEVICES`` set to one device each (worker ``i`` gets device ``i % N``) and the
  resource ``GPU=1``, and every cell asks for ``GPU=1``; with a running scheduler, start each
  worker with ``--resources GPU=1`` on its own device. Each entry's provenance names the device
  (``device``: the GPU's name) and the worker (``worker``: its name, address, host and
  ``CUDA_VISIBLE_DEVICES``).

A stop request (:func:`~tdlib.book.results.request_stop`, ``python -m tdlib stop``) ends a run
of either executor without losing work: the running trainings save their checkpoint at their
next batch and end, no further cell starts, and the summary counts the cells ``stopped``; the
next ``python -m tdlib run`` removes the request and resumes them.

On a SLURM cluster (``pip install -e ".[hpc]"`` for ``dask-jobqueue``), start a scheduler with
GPU workers in a long-lived process on the login node::

    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(
        queue="gpu", account="myproject", cores=4, processes=1, memory="32GB", walltime="08:00:00",
        job_extra_directives=["--gres=gpu:1"],                      # one GPU per job = per worker
        worker_extra_args=["--nthreads", "1", "--resources", "GPU=1"],
        job_script_prologue=["source /path/to/tdlib/.venv/bin/activate",
                             "export TDLIB_RESULTS=/shared/tdlib/results"],
        scheduler_options={"dashboard_address": ":8787"},
    )
    cluster.scale(jobs=8)
    print(cluster.scheduler_address)  # e.g. tcp://10.1.2.3:40123; keep this process alive

then, with the same ``TDLIB_RESULTS``::

    python -m tdlib run bu-vs-td --profile paper --executor dask --scheduler tcp://10.1.2.3:40123 --gpus 1

which fills the grid on the cluster and then executes the chapter's notebook from the cache.

Cost (:func:`plan_table`, ``python -m tdlib plan``): a training cell costs
``3 x F x training images x epochs`` FLOPs (a forward pass and a backward pass of about twice
its FLOPs), plus ``F x (validation images x epochs + test images x test passes)`` for the
evaluation (and a pass over the training images when BatchNorm is re-estimated), where ``F`` is
the network's forward FLOPs per image (:func:`tdlib.bench.flops_per_image`: convolutions and
matrix products) and the test passes are the downscale study's blur levels or, for a
Fourier-filtered run, the original and the filtered test set. Divided by a throughput (GFLOP/s:
given, or measured here on a NIN-light training step) it gives hours. Only what is left counts:
a training run stopped midway costs the epochs after its checkpoint, a sharded cell (an
attack's 500-image parts) the parts not cached yet; ``done_pct`` says how much is behind them.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..provenance import WORKER_ENV
from . import results
from .chapters import check_profile, get_chapter
from .chapters import settings as chapter_settings

if TYPE_CHECKING:
    import pandas as pd

EXECUTORS: tuple[str, ...] = ("local", "dask")
#: A cell runner: ``runner(experiment, config, profile, device)`` caches one cell.
CellRunner = Callable[[str, dict[str, Any], str, "str | None"], None]
#: FLOPs of a training step per image, in forward passes (forward, and a backward pass of about twice that).
TRAIN_PASSES = 3
#: Seconds a client waits for a scheduler before giving up.
CONNECT_TIMEOUT = "10s"


@dataclass(frozen=True)
class Cell:
    """One cached result a grid needs.

    Attributes:
        chapter: Owner chapter (its folder in the results cache, its cell runner).
        experiment: Experiment name.
        config: The full configuration.
        profile: The profile its provenance records.
    """

    chapter: str
    experiment: str
    config: dict[str, Any]
    profile: str

    @property
    def key(self) -> str:
        """``chapter/experiment/hash``: the cell's Dask key and, with ``.json``, its path under the results root."""
        return f"{self.chapter}/{self.experiment}/{results.config_key(self.experiment, self.config)}"

    def path(self, root: Path | None = None) -> Path:
        """Its entry's file."""
        return results.entry_path(self.chapter, self.experiment, self.config, root)


@dataclass(frozen=True)
class Task:
    """A missing cell and the keys of the missing cells it needs first."""

    cell: Cell
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class CellReport:
    """What computing one cell did: ``computed`` is False when it was found cached or ``stopped``
    (a stop was requested, :func:`~tdlib.book.results.request_stop`: the cell did not start, or its
    training saved its checkpoint and ended)."""

    key: str
    computed: bool
    seconds: float
    worker: str | None = None
    stopped: bool = False


@dataclass
class RunSummary:
    """What :func:`run_cells` did."""

    chapter: str
    profile: str
    executor: str
    planned: int
    cached: int
    tasks: int
    reports: list[CellReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def computed(self) -> int:
        """Cells computed by this run (prerequisites included)."""
        return sum(r.computed for r in self.reports)

    @property
    def stopped(self) -> int:
        """Cells a stop request left uncomputed (their trainings checkpointed)."""
        return sum(r.stopped for r in self.reports)

    @property
    def prerequisites(self) -> int:
        """Cells of other chapters computed by this run."""
        return sum(r.computed and not r.key.startswith(f"{self.chapter}/") for r in self.reports)

    def line(self) -> str:
        """One line for the terminal."""
        pre = f", {self.prerequisites} of them in other chapters" if self.prerequisites else ""
        stop = (f", {self.stopped} stopped on request (checkpointed; the same command resumes them)"
                if self.stopped else "")
        return (f"{self.chapter}: profile {self.profile}, {self.planned} cells planned, {self.cached} cached, "
                f"{self.computed} computed{pre}{stop} ({self.executor}, {self.seconds:.1f} s)")


class CellsFailed(RuntimeError):
    """Some cells raised (or killed their workers too often); the message lists them."""


# --------------------------------------------------------------------------------------------
# Which cells
# --------------------------------------------------------------------------------------------


def check_executor(executor: str) -> str:
    """Return ``executor`` if valid; a ValueError lists the valid ones."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
    return executor


def planned_cells(chapter: str, profile: str, settings: Mapping[str, Any] | None = None) -> list[Cell]:
    """The cells of a chapter's plan under ``settings`` (default: the profile's), each once, in plan order."""
    ch = get_chapter(chapter)
    check_profile(profile)
    s = dict(settings) if settings is not None else chapter_settings(chapter, profile)
    out: dict[str, Cell] = {}
    for experiment, config in ch.plan(s):
        cell = Cell(chapter, experiment, dict(config), profile)
        out.setdefault(cell.key, cell)
    return list(out.values())


def pending(chapter: str, profile: str, settings: Mapping[str, Any] | None = None,
            root: Path | None = None) -> tuple[list[Cell], list[Task]]:
    """The planned cells, and the tasks that fill what the cache lacks, each once.

    Tasks come depth first: every cell right after its missing prerequisites (their own
    first). The order is the run order (local) and the priority (Dask), so a sharded cell's
    merge runs as soon as its parts are cached, and the comparisons fill one after another
    instead of all at the end.

    Returns:
        ``(planned, tasks)``.

    Raises:
        ValueError: Unknown chapter or profile, or a chapter without a cell runner.
    """
    get_chapter(chapter).runner()  # a clear error for a chapter without one
    planned = planned_cells(chapter, profile, settings)
    order: dict[str, Task] = {}  # insertion order: a task is added after the prerequisites it needs

    def missing(cell: Cell) -> bool:
        return cell.key not in order and results.lookup(cell.chapter, cell.experiment, cell.config, root) is None

    def needs_of(cell: Cell) -> tuple[str, ...]:
        """The keys of the missing prerequisites of ``cell``; adds them (their own first) to ``order``."""
        needs = []
        for pch, pexp, pconf, pprof in get_chapter(cell.chapter).prerequisites(cell.experiment, cell.config,
                                                                                cell.profile):
            pre = Cell(pch, pexp, dict(pconf), pprof)
            if missing(pre):
                order[pre.key] = Task(pre, needs_of(pre))
            if pre.key in order:
                needs.append(pre.key)
        return tuple(dict.fromkeys(needs))

    for cell in planned:
        if missing(cell):
            order[cell.key] = Task(cell, needs_of(cell))
    return planned, list(order.values())


# --------------------------------------------------------------------------------------------
# Computing one cell (here or on a worker)
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (``None``: unset) environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def worker_label() -> str | None:
    """The Dask worker this code runs on (name, address, host, ``CUDA_VISIBLE_DEVICES``), or None.

    Looks only at an already imported ``distributed``, so the local path never imports Dask.
    """
    dist = sys.modules.get("distributed")
    if dist is None:
        return None
    try:
        w = dist.get_worker()
    except ValueError:
        return None
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (f"dask worker {w.name} at {w.address} on {socket.gethostname()}"
            + (f", CUDA_VISIBLE_DEVICES={gpu}" if gpu is not None else ""))


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files that killed writers of ``path``'s cell left (entry, weights, checkpoint)."""
    stale = sorted(path.parent.glob(f".{path.stem}.*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def compute_cell(cell: Cell, *, device: str | None = None, root: str | None = None,
                 runner: CellRunner | None = None, after: Sequence[Any] = ()) -> CellReport:
    """Compute one cell into the cache unless it is cached (runs in this process or on a worker).

    Args:
        cell: The cell.
        device: Passed to the cell runner (``None``: CUDA when available, else the CPU).
        root: Results root; set as ``$TDLIB_RESULTS`` while the cell computes (``None``: this
            process's :func:`~tdlib.book.results.results_root`).
        runner: Computes the cell instead of its chapter's cell runner (same signature).
        after: Results of the cells it waited for (ignored: Dask resolves them first).

    A requested stop (:func:`~tdlib.book.results.request_stop`) is no failure: a cell does not
    start while one is pending, and a training it interrupts has saved its checkpoint; the
    report says ``stopped``.

    Raises:
        RuntimeError: The runner returned without caching the cell.
    """
    del after
    worker = worker_label()
    with _environ({results.ROOT_ENV: root} if root else {}), _environ({WORKER_ENV: worker}):
        path = cell.path()
        if path.is_file():
            return CellReport(cell.key, False, 0.0, worker)
        if results.stop_path().is_file():
            return CellReport(cell.key, False, 0.0, worker, stopped=True)
        from ..train import TrainingStopped

        fn = runner or get_chapter(cell.chapter).runner()
        t0 = time.perf_counter()
        try:
            fn(cell.experiment, cell.config, cell.profile, device)
        except TrainingStopped:
            return CellReport(cell.key, False, time.perf_counter() - t0, worker, stopped=True)
        seconds = time.perf_counter() - t0
        if not path.is_file():
            raise RuntimeError(f"the cell runner of {cell.chapter!r} returned without caching {cell.key}")
        remove_stale_temporaries(path)
    return CellReport(cell.key, True, seconds, worker)


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------


def run_cells(chapter: str, profile: str, settings: Mapping[str, Any] | None = None, *, executor: str = "local",
              scheduler: str | None = None, workers: int | None = None, gpus: int | None = None,
              device: str | None = None, retries: int = 2, root: Path | None = None,
              runner: CellRunner | None = None, progress: bool = True) -> RunSummary:
    """Compute the cells of a chapter's grid that the cache lacks (see the module docstring).

    Args:
        chapter: Chapter name (one with a cell runner).
        profile: ``smoke``, ``cpu`` or ``paper``.
        settings: The chapter's settings (default: the profile's, :func:`~tdlib.book.chapters.settings`).
        executor: ``local`` or ``dask``.
        scheduler: With ``dask``: a running scheduler's address (or scheduler file) instead of a
            ``LocalCluster``.
        workers: With ``dask`` and no scheduler: worker processes (default: ``gpus``, else the CPU count).
        gpus: With ``dask``: pin each worker to one of this many GPUs and give each cell one GPU.
        device: Passed to every cell runner (default: CUDA when available, else the CPU).
        retries: With ``dask``: reruns of a cell that raised.
        root: Results root (default :func:`~tdlib.book.results.results_root`).
        runner: Computes the chapter's own cells instead of its cell runner (prerequisites keep theirs).
        progress: A progress bar (local) or one line per finished cell (dask).

    Returns:
        What was planned, found cached, computed and stopped on request
        (:func:`~tdlib.book.results.request_stop`).

    Raises:
        ValueError: Unknown chapter, profile or executor; a chapter without a cell runner; Dask
            options with the local executor.
        ConnectionError: The scheduler cannot be reached.
        CellsFailed: Some cells failed (the others are cached).
    """
    check_executor(executor)
    if executor == "local" and (scheduler or workers or gpus):
        raise ValueError("scheduler, workers and gpus apply to the dask executor only")
    if (gpus is not None and gpus < 1) or (workers is not None and workers < 1):
        raise ValueError(f"gpus and workers must be at least 1, got gpus={gpus}, workers={workers}")
    base = Path(root) if root is not None else results.results_root()
    t0 = time.perf_counter()
    planned, tasks = pending(chapter, profile, settings, base)
    own = {t.cell.key for t in tasks} & {c.key for c in planned}
    summary = RunSummary(chapter, profile, executor, len(planned), len(planned) - len(own), len(tasks))
    if tasks:
        run = _run_local if executor == "local" else _run_dask
        summary.reports = run(tasks, chapter=chapter, scheduler=scheduler, workers=workers, gpus=gpus, device=device,
                              retries=retries, root=base, runner=runner, progress=progress)
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_local(tasks: Sequence[Task], *, chapter: str, device: str | None, root: Path, runner: CellRunner | None,
               progress: bool, **_: Any) -> list[CellReport]:
    """Every task in order, in this process; stops at the first failure."""
    from tqdm import tqdm

    return [compute_cell(t.cell, device=device, root=str(root), runner=runner if t.cell.chapter == chapter else None)
            for t in tqdm(tasks, desc=f"{chapter} cells", disable=not progress)]


def _connect(scheduler: str) -> Any:
    """A client of a running scheduler (address, or a scheduler file); ConnectionError when unreachable."""
    from distributed import Client

    is_file = scheduler.endswith(".json") or Path(scheduler).is_file()
    try:
        if is_file:
            return Client(scheduler_file=scheduler, timeout=CONNECT_TIMEOUT)
        return Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler!r}: {e}") from None


def local_cluster(workers: int | None = None, gpus: int | None = None) -> Any:
    """A cluster of single-threaded worker processes on this machine.

    Without ``gpus``: ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)``
    (default: one worker per CPU core). With ``gpus``: ``workers`` (default ``gpus``) worker
    processes, worker ``i`` seeing only GPU ``i % gpus`` (``CUDA_VISIBLE_DEVICES``) and offering
    the resource ``GPU=1``.
    """
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    if not gpus:
        return LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                            dashboard_address=None)
    n = workers or gpus
    spec = {f"gpu{i}": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1},
                                                   "env": {"CUDA_VISIBLE_DEVICES": str(i % gpus)}}}
            for i in range(n)}
    return SpecCluster(workers=spec, scheduler={"cls": Scheduler, "options": {"dashboard_address": None,
                                                                              "host": "127.0.0.1"}})


def _run_dask(tasks: Sequence[Task], *, chapter: str, scheduler: str | None, workers: int | None, gpus: int | None,
              device: str | None, retries: int, root: Path, runner: CellRunner | None,
              progress: bool) -> list[CellReport]:
    """One keyed task per cell, prerequisites as dependencies; collects every failure."""
    from distributed import Client, as_completed

    cluster = None
    if scheduler:
        client = _connect(scheduler)
    else:
        cluster = local_cluster(workers, gpus)
        client = Client(cluster)
    reports: list[CellReport] = []
    failed: dict[str, str] = {}
    try:
        futures: dict[str, Any] = {}
        for t in tasks:
            futures[t.cell.key] = client.submit(
                compute_cell, t.cell, device=device, root=str(root),
                runner=runner if t.cell.chapter == chapter else None, after=[futures[k] for k in t.needs],
                key=t.cell.key, pure=False, retries=retries, resources={"GPU": 1} if gpus else None)
        for fut in as_completed(list(futures.values())):
            if fut.status == "finished":
                rep = fut.result()
                reports.append(rep)
                if progress:
                    done = "stopped on request" if rep.stopped else "computed" if rep.computed else "cached"
                    print(f"{rep.key}: {done} in {rep.seconds:.1f} s ({rep.worker})", flush=True)
            else:
                failed[str(fut.key)] = f"{type(fut.exception()).__name__}: {fut.exception()}"
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if failed:
        lines = "\n".join(f"  {k}: {v}" for k, v in failed.items())
        raise CellsFailed(f"{len(failed)} of {len(tasks)} cells failed (the others are cached):\n{lines}")
    return reports


# --------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """Estimated FLOPs of one cell: ``train`` (forward and backward) and ``eval`` (forward only);
    both NaN when not estimated, with a ``note`` saying why."""

    train: float
    eval: float
    forward: float = math.nan
    epochs: int | None = None
    train_images: int | None = None
    test_images: int | None = None
    note: str = ""
    #: FLOPs of the whole cell where part of it is behind it (a checkpoint's epochs, cached parts):
    #: ``train`` and ``eval`` count only the rest. NaN: nothing is behind it.
    whole: float = math.nan


@dataclass(frozen=True)
class Throughput:
    """Sustained GFLOP/s and where the number comes from."""

    gflops: float
    source: str


@cache
def measure_throughput(device: str | None = None) -> Throughput:
    """GFLOP/s of a NIN-light BU training step (batch 128, about a second; kept for the process)."""
    import torch

    from ..bench import bench_model, default_device

    dev = torch.device(device) if device else default_device()
    row = bench_model("nin_light", "bu", "train", device=dev, batch=128, min_seconds=1.0)
    threads = torch.get_num_threads()
    return Throughput(float(row["gflop_per_s"]), f"measured here: a NIN-light BU training step on {dev}"
                                                 + (f", {threads} thread{'s' if threads > 1 else ''}"
                                                    if dev.type == "cpu" else ""))


@cache
def _forward_flops(dataset: str, model: str, variant: str, widths: tuple[int, ...] | None, td_inputs: str,
                   ring_radii: tuple[float, ...]) -> float:
    """Forward FLOPs per image of a network (:func:`tdlib.bench.flops_per_image`)."""
    import torch

    from ..bench import flops_per_image
    from ..data import dataset_info
    from ..data.mesh import MESH_INFO
    from ..train import TrainConfig, base_dataset, build_model

    extra: dict[str, Any] = {"td_inputs": td_inputs, "ring_radii": ring_radii} if td_inputs != "single" else {}
    cfg = TrainConfig(dataset, model, variant, widths=widths, **extra)
    shape = MESH_INFO.shape if cfg.segmentation else dataset_info(base_dataset(dataset)).shape
    torch.manual_seed(0)
    return flops_per_image(build_model(cfg), torch.zeros(2, *shape), train=False)


def forward_flops(config: Mapping[str, Any]) -> float:
    """Forward FLOPs per image of the network a training configuration trains."""
    widths = tuple(config["widths"]) if config.get("widths") else None
    rings = tuple(float(r) for r in config.get("ring_radii", (5.0, 10.0)))
    return _forward_flops(config["dataset"], config["model"], config.get("variant", "bu"), widths,
                          config.get("td_inputs", "single"), rings)


def _split_sizes(config: Mapping[str, Any]) -> tuple[int, int, int]:
    """Training, validation and test images (meshes) of a training configuration."""
    from ..data import dataset_info
    from ..data.mesh import MESH_INFO
    from ..train import SEG_DATASETS, base_dataset

    info = MESH_INFO if config["dataset"] in SEG_DATASETS else dataset_info(base_dataset(config["dataset"]))
    pool = min(config.get("train_subset") or info.num_train, info.num_train)
    n_train = pool - math.ceil(config.get("val_fraction", 0.1) * pool - 1e-9)
    n_test = min(config.get("test_subset") or info.num_test, info.num_test)
    return n_train, pool - n_train, n_test


def training_cost(config: Mapping[str, Any], epochs_done: float = 0) -> Cost:
    """A training cell: ``3 F N_train epochs`` and ``F (N_val epochs + N_test passes [+ N_train])`` FLOPs.

    ``epochs_done``: epochs a stopped run has behind it (its checkpoint, possibly within an epoch:
    a fraction); only the rest is counted.
    """
    f = forward_flops(config)
    n_train, n_val, n_test = _split_sizes(config)
    epochs = int(config["epochs"])
    left = epochs - min(max(epochs_done, 0), epochs)
    passes = len(config["test_sigmas"]) if "test_sigmas" in config else (
        2 if config.get("fourier", "none") != "none" else 1)
    recal = n_train if config.get("recalibrate_bn") else 0
    once = f * (n_test * passes + recal)
    per_epoch = TRAIN_PASSES * f * n_train + f * n_val
    return Cost(TRAIN_PASSES * f * n_train * left, f * n_val * left + once, f, epochs, n_train, n_test,
                whole=per_epoch * epochs + once if left < epochs else math.nan)


def _checkpoint(cell: Cell, root: Path | None = None) -> results.Checkpoint | None:
    """A missing training cell's checkpoint (``<key>.ckpt``) when it belongs to this cell."""
    ckpt = cell.path(root).with_suffix(".ckpt")
    found = results.read_checkpoint(ckpt) if ckpt.is_file() else None
    return found if found is not None and found.config == cell.config else None


def epochs_done(cell: Cell, root: Path | None = None) -> float:
    """Epochs behind a missing training cell: those of its checkpoint (``<key>.ckpt``), else 0."""
    found = _checkpoint(cell, root)
    return found.epochs_done if found is not None else 0


def checkpoint_rate(cell: Cell, root: Path | None = None) -> tuple[float, str] | None:
    """GFLOP/s and machine of a missing training cell's finished epochs, from its checkpoint
    (the run's own pace, for what is left of it); None without a checkpoint or a finished epoch."""
    found = _checkpoint(cell, root)
    if found is None or not found.seconds_per_epoch > 0:
        return None
    per_epoch = training_cost(cell.config).train / int(cell.config["epochs"])
    return per_epoch / found.seconds_per_epoch / 1e9, found.device or "unknown device"


def sharded_in_progress(chapter: str | None = None, profile: str | None = None,
                        settings: Mapping[str, Any] | None = None, root: Path | None = None) -> pd.DataFrame:
    """The sharded cells that are partly done: some parts cached, no merge yet.

    Args:
        chapter: Only this chapter's grids (default: every chapter whose cells have prerequisites).
        profile: Only this profile's grid (default: every profile's).
        settings: The grid's settings, with ``chapter`` and ``profile`` (default: the profile's).
        root: Results root (default :func:`~tdlib.book.results.results_root`).

    Returns:
        One row per such cell (each once, over the profiles' grids): ``chapter``, ``profile``,
        ``dataset``, ``model``, ``variant``, ``attack`` (where the configuration has them),
        ``images_done`` and ``images``. Empty (same columns) when there are none.
    """
    import pandas as pd

    from .chapters import PROFILES, notebook_chapters

    cols = ["chapter", "profile", "dataset", "model", "variant", "attack", "images_done", "images"]
    rows, seen = [], set()
    for ch in notebook_chapters():
        if ch.requires is None or ch.planner is None or chapter not in (None, ch.name):
            continue
        for prof in [profile] if profile else PROFILES:
            for cell in planned_cells(ch.name, prof, settings):
                if cell.key in seen or results.lookup(cell.chapter, cell.experiment, cell.config, root) is not None:
                    continue
                seen.add(cell.key)
                left, total = parts_left(cell, root)
                if total and left < total:
                    rows.append({"chapter": ch.name, "profile": prof,
                                 **{k: cell.config.get(k, "") for k in ("dataset", "model", "variant", "attack")},
                                 "images_done": total - left, "images": total})
    return pd.DataFrame(rows, columns=cols)


def parts_left(cell: Cell, root: Path | None = None) -> tuple[int, int]:
    """``(left, total)`` images of a sharded cell: its parts are the prerequisites of its own chapter
    whose configurations carry ``start`` and ``stop`` (an attack cell's 500-image parts); ``(0, 0)``
    for a cell without parts."""
    left = total = 0
    for pch, pexp, pconf, _ in get_chapter(cell.chapter).prerequisites(cell.experiment, cell.config, cell.profile):
        if pch == cell.chapter and "start" in pconf and "stop" in pconf:
            n = int(pconf["stop"]) - int(pconf["start"])
            total += n
            left += n if results.lookup(pch, pexp, pconf, root) is None else 0
    return left, total


def _attack_queries(root: Path | None) -> dict[tuple[str, ...], list[float]]:
    """Queries per image of the cached attack runs, by ``(attack, model, variant)`` and by ``(attack,)``."""
    out: dict[tuple[str, ...], list[float]] = {}
    for e in results.entries("attacks", root):
        c, r = e.config, e.result
        if e.experiment == "minimal_l2" and isinstance(r, dict) and r.get("queries") and c.get("images"):
            q = r["queries"] / c["images"]
            out.setdefault((c["attack"], c["model"], c["variant"]), []).append(q)
            out.setdefault((c["attack"],), []).append(q)
    return out


def cell_cost(cell: Cell, root: Path | None = None, attack_queries: Mapping[tuple[str, ...], list[float]] | None = None
              ) -> Cost:
    """The estimated FLOPs of one cell.

    * a training cell (bu-vs-td, downscale, fourier, segmentation): :func:`training_cost`;
    * an attack cell: images x queries per image x ``F``, the queries per image being the median
      over the cached runs of the same attack (on the same network where there are some);
    * a Grad-CAM IoU cell: images x (``F`` of both networks, to keep the images both classify
      right, + 3 ``F`` for Grad-CAM's forward and backward pass);
    * anything else: not estimated.
    """
    c = cell.config
    nan = math.nan
    if cell.experiment == "train":
        return training_cost(c, epochs_done(cell, root))
    if cell.chapter == "attacks" and cell.experiment == "minimal_l2":
        queries = attack_queries if attack_queries is not None else _attack_queries(root)
        found = queries.get((c["attack"], c["model"], c["variant"])) or queries.get((c["attack"],))
        f = forward_flops(c["trained"])
        if not found:
            return Cost(nan, nan, f, test_images=c["images"], note="not estimated: no cached run of this attack")
        q = statistics.median(found)
        left, total = parts_left(cell, root)
        images = left if total else c["images"]
        return Cost(0.0, images * q * f, f, test_images=c["images"],
                    note="queries per image: the median of the cached runs",
                    whole=c["images"] * q * f if images < c["images"] else math.nan)
    if cell.chapter == "gradcam" and cell.experiment == "iou":
        f, g = forward_flops(c["trained"]), forward_flops(c["partner"])
        return Cost(0.0, c["images"] * (f + g + TRAIN_PASSES * f), f, test_images=c["images"])
    return Cost(nan, nan, note="not estimated")


def measured_rates(chapter: str, root: Path | None = None) -> dict[tuple[str, str, str], list[float]]:
    """GFLOP/s that the cached cells of a chapter reached, by ``(experiment, model, variant)``.

    A training cell: its training FLOPs over its training time (seconds per epoch x epochs,
    evaluation excluded, so a run resumed across sittings counts whole). An attack cell: its
    queries x forward FLOPs over its attack seconds. These are rates of the worker that
    computed them (one thread, with whatever else ran beside it, on the machine that its
    provenance names: :func:`rate_devices`), for :func:`plan_table`'s ``hours_measured``; a
    FLOP count alone misjudges networks whose convolutions run much faster or slower than the
    calibration step (the segmentation U-nets, for one).
    """
    return _by_key(_cell_rates(chapter, root), 1)


def rate_devices(chapter: str, root: Path | None = None) -> dict[tuple[str, str, str], list[str]]:
    """The machines (provenance ``device``) behind :func:`measured_rates`, by the same keys, sorted."""
    return {k: sorted(set(v)) for k, v in _by_key(_cell_rates(chapter, root), 2).items()}


def _by_key(cells: list[tuple[Any, ...]], field: int) -> dict[tuple[str, str, str], list[Any]]:
    """Field ``field`` of :func:`_cell_rates`'s tuples, gathered by their key."""
    out: dict[tuple[str, str, str], list[Any]] = {}
    for cell in cells:
        out.setdefault(cell[0], []).append(cell[field])
    return out


def _cell_rates(chapter: str, root: Path | None = None) -> list[tuple[tuple[str, str, str], float, str]]:
    """``(key, GFLOP/s, device)`` of every cached cell of a chapter with a measurable rate."""
    out = []
    for e in results.entries(chapter, root):
        c, r = e.config, e.result if isinstance(e.result, dict) else {}
        try:
            if e.experiment == "train" and "summary" in r:
                s = r["summary"]
                seconds = float(s["seconds_per_epoch"]) * int(s["epochs"])
                flops = training_cost(c).train
                key = (e.experiment, c["model"], c.get("variant", "bu"))
            elif chapter == "attacks" and e.experiment == "minimal_l2" and r.get("queries") and r.get("seconds"):
                seconds, flops = float(r["seconds"]), r["queries"] * forward_flops(c["trained"])
                key = (e.experiment, c["model"], c["variant"])
            else:
                continue
        except (KeyError, TypeError, ValueError):  # an entry from an older schema: no rate
            continue
        if seconds > 0 and flops > 0:
            out.append((key, flops / seconds / 1e9, str(e.provenance.get("device", "unknown device"))))
    return out


def plan_table(chapter: str, profile: str, settings: Mapping[str, Any] | None = None, *, gflops: float | None = None,
               root: Path | None = None) -> pd.DataFrame:
    """A chapter's grid: runs, cached, missing and the estimated compute of the missing ones.

    Args:
        chapter: Chapter name.
        profile: ``smoke``, ``cpu`` or ``paper``.
        settings: The chapter's settings (default: the profile's).
        gflops: Sustained GFLOP/s of the device that will compute them; default: measured here
            (:func:`measure_throughput`), only when something is missing.
        root: Results root (default :func:`~tdlib.book.results.results_root`).

    Returns:
        One row per ``(experiment, dataset, model, variant)``: ``runs``, ``cached``, ``missing``,
        ``epochs``, ``train_images`` (per epoch), ``test_images``, ``mflop_per_image`` (forward),
        ``done_pct`` (% of the missing runs' FLOPs already behind them: the epochs of a stopped
        run's checkpoint, the cached parts of a sharded cell), ``train_tflop`` and ``eval_tflop``
        (what is left of the missing runs), ``hours`` (of the missing runs at the throughput),
        ``hours_measured`` (a stopped run's rest at the pace of its own finished epochs,
        :func:`checkpoint_rate`; any other missing run at the median rate that the cached cells
        of the same network reached, :func:`measured_rates`: the hours of one such worker; NaN
        when a missing run has neither) and ``note``. ``attrs`` holds ``gflops``,
        ``throughput`` (its source) and ``rate_devices`` (the machines behind
        ``hours_measured``). Nothing is trained.
    """
    import pandas as pd

    cells = planned_cells(chapter, profile, settings)
    queries = _attack_queries(root) if chapter == "attacks" else None
    cell_rates = _cell_rates(chapter, root)  # one pass over the cache for the rates and their machines
    rates = {k: statistics.median(v) for k, v in _by_key(cell_rates, 1).items()}
    machines = _by_key(cell_rates, 2)
    used: set[str] = set()
    rows = []
    for cell in cells:
        c = cell.config
        cached = results.lookup(cell.chapter, cell.experiment, c, root) is not None
        cost = cell_cost(cell, root, queries)
        variant = c.get("variant", "bu/td" if cell.experiment != "train" else "bu")
        left = 0.0 if cached else cost.train + cost.eval
        # a stopped run's own pace for its rest; else that of the cached runs of the same network
        own = None if cached else checkpoint_rate(cell, root)
        key = (cell.experiment, c.get("model", ""), variant)
        rate = own[0] if own else rates.get(key, math.nan)
        if not cached and not math.isnan(rate):
            used.update([own[1]] if own else machines.get(key, []))
        rows.append({"experiment": cell.experiment, "dataset": c.get("dataset", ""), "model": c.get("model", ""),
                     "variant": variant, "cached": cached, "epochs": cost.epochs, "train_images": cost.train_images,
                     "test_images": cost.test_images, "forward": cost.forward,
                     "train": 0.0 if cached else cost.train, "eval": 0.0 if cached else cost.eval,
                     "whole": 0.0 if cached else left if math.isnan(cost.whole) else cost.whole,
                     "measured": left / (rate * 1e9) / 3600 if left else 0.0, "note": cost.note})
    cols = ["experiment", "dataset", "model", "variant", "runs", "cached", "missing", "epochs", "train_images",
            "test_images", "mflop_per_image", "done_pct", "train_tflop", "eval_tflop", "hours", "hours_measured",
            "note"]
    if not rows:
        out = pd.DataFrame(columns=cols)
        out.attrs.update(gflops=gflops, throughput="")
        return out
    df = pd.DataFrame(rows)
    keys = ["experiment", "dataset", "model", "variant"]
    g = df.groupby(keys, sort=False, dropna=False)
    out = g.agg(runs=("cached", "size"), cached=("cached", "sum"), epochs=("epochs", _span),
                train_images=("train_images", "max"), test_images=("test_images", "max"),
                mflop_per_image=("forward", "mean"), train_tflop=("train", lambda v: v.sum(min_count=1)),
                eval_tflop=("eval", lambda v: v.sum(min_count=1)),
                whole=("whole", lambda v: v.sum(min_count=1)),
                hours_measured=("measured", lambda v: v.sum(min_count=len(v))),  # NaN: a run without a rate
                note=("note", lambda v: "; ".join(dict.fromkeys(x for x in v if x)))).reset_index()
    out["missing"] = out.runs - out.cached
    out["done_pct"] = (100 * (1 - (out.train_tflop + out.eval_tflop) / out.whole)).where(out.whole > 0, 0.0)
    for col in ("train_images", "test_images"):
        out[col] = out[col].astype("Int64")
    out["mflop_per_image"] /= 1e6
    out[["train_tflop", "eval_tflop"]] /= 1e12
    source = ""
    if gflops is None and out.missing.sum() > 0:
        tp = measure_throughput()
        gflops, source = tp.gflops, tp.source
    elif gflops is not None:
        source = "given"
    if gflops is not None and gflops <= 0:
        raise ValueError(f"gflops must be positive, got {gflops}")
    out["hours"] = ((out.train_tflop + out.eval_tflop) * 1e12 / (gflops * 1e9) / 3600 if gflops
                    else 0.0)
    out.loc[out.missing == 0, ["train_tflop", "eval_tflop", "hours", "hours_measured"]] = 0.0
    out = out[cols]
    out.attrs.update(gflops=gflops, throughput=source, rate_devices=sorted(used))
    return out


def _span(values: pd.Series) -> str:
    """``3`` or ``2-4`` (blank when there are none)."""
    v = sorted({int(x) for x in values.dropna()})
    return "" if not v else str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"


def format_plan(chapter: str, profile: str, table: pd.DataFrame) -> str:
    """``python -m tdlib plan``'s text for one chapter: a header line, the table, the hours."""
    runs, cached = int(table.runs.sum()), int(table.cached.sum())
    missing = runs - cached
    gflops = table.attrs.get("gflops")
    head = f"{chapter}, profile {profile}: {runs} runs, {cached} cached, {missing} missing"
    if missing and gflops:
        tflop = table.train_tflop.sum() + table.eval_tflop.sum()
        head += (f"; estimated {tflop:,.1f} TFLOP = {table.hours.sum():,.2f} h at {gflops:,.1f} GFLOP/s "
                 f"({table.attrs.get('throughput')})")
        unknown = int(table.loc[table.hours.isna(), "missing"].sum())
        if unknown:
            head += f"; {unknown} missing runs not estimated"
    if missing and "hours_measured" in table and table.hours_measured[table.missing > 0].notna().any():
        known = table[(table.missing > 0) & table.hours_measured.notna()]
        machines = "; ".join(table.attrs.get("rate_devices") or []) or "unknown machines"
        head += (f"\nat the measured rates (a stopped run's own epochs, else the cached runs of the same network; "
                 f"one worker like theirs, on {machines}): "
                 f"{known.hours_measured.sum():,.2f} h for {int(known.missing.sum())} of the {missing} missing runs")
    import pandas as pd

    shown = table.astype({c: object for c in ("train_images", "test_images")})
    for col in ("train_images", "test_images"):
        shown[col] = ["-" if pd.isna(v) else f"{int(v):,}" for v in table[col]]
    body = shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:,.2f}") if len(table) else ""
    return head + ("\n" + body if body else "")
