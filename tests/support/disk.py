"""A directory that refuses new files, for tests of what happens when the disk says no."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable
from pathlib import Path


def unwritable(directory: Path) -> Callable[[], None]:
    """Make ``directory`` refuse new files, even to root (``chattr +i``; else mode 0555);
    returns the undo. Fails the test if a probe can still create something there."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], check=True)

        def undo() -> None:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)

        def undo() -> None:
            directory.chmod(0o755)
    try:
        (directory / "probe").mkdir()
    except OSError:
        return undo
    undo()
    raise AssertionError(f"{directory} is still writable")


def full(directory: Path) -> Callable[[], None]:
    """Make ``directory`` a tiny filesystem with no byte left (a tmpfs of 64 KiB, filled);
    returns the undo. Mounting needs root: without it the test is skipped, saying so."""
    import pytest

    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a full filesystem is a tmpfs mount, which needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)], check=True)

    def undo() -> None:
        subprocess.run(["umount", str(directory)], check=True)

    try:
        with (directory / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            undo()
            raise
    return undo
