"""What produced a result: the code's git revision, the device, the library versions.

Stored with every cached result (:func:`record`) and shown in every chapter's header, so
a number in the book can be traced to the code and machine that computed it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from .io import PACKAGE_PARENT

#: Names the revision of a copy of the code without its git history (a tree sent to a GPU machine).
REVISION_ENV = "TDLIB_REVISION"


@cache
def git_revision() -> str:
    """``$TDLIB_REVISION`` where that is set (a copy of the tree without ``.git``, whose sender
    names the revision); else the checkout's short revision, ``+dirty`` when code (``tdlib/``,
    ``pyproject.toml``) has uncommitted changes; ``unknown`` outside a git checkout."""
    if env := os.environ.get(REVISION_ENV):
        return env
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PACKAGE_PARENT, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        # Only code makes a result's revision dirty; results and notebooks written by the run do not.
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tdlib", "pyproject.toml"], cwd=PACKAGE_PARENT,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@cache
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str | None = None) -> str:
    """A readable name of the device that computed a result (GPU name, or CPU and threads)."""
    import torch

    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{_cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape results."""
    import numpy
    import torch
    import torchvision

    from . import __version__

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__, "tdlib": __version__}


#: Set by :mod:`tdlib.book.executor` while a worker computes a cell: which worker (and GPU) it was.
WORKER_ENV = "TDLIB_WORKER"


def record(profile: str, wall_seconds: float, device: str | None = None) -> dict[str, Any]:
    """The provenance record stored with every cached result.

    ``load`` is the machine's load average over the last 1, 5 and 15 minutes when the result was
    stored (where the OS has one): a CPU run that shared its cores with other work is slower, so its
    timings are read beside it. Computed on an executor's worker (``$TDLIB_WORKER`` set), it also
    names the worker.
    """
    out = {
        "profile": profile,
        "git": git_revision(),
        "device": device_name(device),
        "versions": library_versions(),
        "wall_seconds": round(wall_seconds, 3),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if hasattr(os, "getloadavg"):
        out["load"] = [round(v, 2) for v in os.getloadavg()]
    if os.environ.get(WORKER_ENV):
        out["worker"] = os.environ[WORKER_ENV]
    return out
