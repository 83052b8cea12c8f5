"""Files: atomic writes (a temporary file in the same folder, then a rename) and the source checkout.

Every result, weight file, checkpoint and dataset copy that tdlib writes goes through
:func:`atomic_write_bytes` or :func:`atomic_write_text`, so an interrupted run never
leaves a half-written file behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: The folder that holds the ``tdlib`` package: the repository root for a source checkout.
PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def repo_dir() -> Path | None:
    """The source checkout holding this package, or None when installed elsewhere."""
    return PACKAGE_PARENT if (PACKAGE_PARENT / "pyproject.toml").is_file() else None


def atomic_write_bytes(dst: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``dst`` (mode 0644) by calling ``write`` on a temporary file in the same folder, then
    ``os.replace`` it into place; the temporary file is removed if anything fails."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(dst: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``dst`` atomically."""
    atomic_write_bytes(dst, lambda out: out.write(text.encode()))


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically."""
    with open(src, "rb") as inp:
        atomic_write_bytes(dst, lambda out: shutil.copyfileobj(inp, out))
