"""A run's working folder, beside its report folder: the spools of its fills and orders while it runs, then its
report, staged there and moved into place whole.

Creating it at the start proves the report can be written there, before any time is spent. It is hidden
(``.broker-sim-work-<pid>-<hex>``), holds a ``lock`` file its run keeps `flock`-ed, and is removed when the
run's results are let go (or at exit). A run killed outright (SIGKILL, a power cut) cannot remove it: the next
run that works in the same folder does, once the kernel has released the dead run's lock. When the report
cannot be written (a full disk), `keep` leaves the spools where the user can see them, as CSV files with a
header.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import tempfile
import weakref
from pathlib import Path

from broker_sim.report.target import ReportFolderError, check_target

__all__ = ["WORK_PREFIX", "Workdir"]

log = logging.getLogger(__name__)

#: The name every working folder starts with; the only folders a run ever removes on another run's behalf.
WORK_PREFIX = ".broker-sim-work-"
_NEW_PREFIX = ".broker-sim-new-"
_LOCK = "lock"
_STAGED = "report"
_PREVIOUS = "previous"


class Workdir:
    """One run's working folder (see the module docstring). Built by `Workdir.create`."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd
        self._finalizer = weakref.finalize(self, _remove, path, lock_fd)

    @classmethod
    def create(cls, target: Path | None) -> Workdir:
        """A new working folder beside the report folder `target` (in the temp folder when there is none),
        after removing the working folders of runs that died there. Raises `ReportFolderError` when it
        cannot be created: the report could not be written either."""
        parent = target.parent if target is not None else Path(tempfile.gettempdir())
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        fresh = parent / f"{_NEW_PREFIX}{name}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_stale(parent)
            os.mkdir(fresh, 0o777)  # the user's umask: kept after a failed report, it is theirs to read
            fd = os.open(fresh / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Only now, locked, does it take the name other runs clean up: they never see it unlocked.
            path = parent / f"{WORK_PREFIX}{name}"
            os.rename(fresh, path)
        except OSError as exc:
            shutil.rmtree(fresh, ignore_errors=True)
            where = f"report folder {target}" if target is not None else f"temp folder {parent}"
            raise ReportFolderError(f"{where} cannot be written: {exc.strerror or exc} (in {parent})") from None
        return cls(path, fd)

    def staging(self) -> Path:
        """A new, empty folder to write the report into (made with the user's umask, as the report will be)."""
        staged = self.path / _STAGED
        shutil.rmtree(staged, ignore_errors=True)  # a report attempt that failed before
        os.mkdir(staged, 0o777)
        return staged

    def publish(self, target: Path) -> None:
        """Move the staged report into place as `target`, replacing the report there (checked again now: the
        folder may have changed during the run; `ReportFolderError` if it may no longer be replaced)."""
        check_target(target)
        previous = self.path / _PREVIOUS
        if target.exists():
            os.rename(target, previous)
        os.rename(self.path / _STAGED, target)
        shutil.rmtree(previous, ignore_errors=True)

    def keep(self, near: Path | None) -> Path:
        """Keep the folder for the user (the report could not be written): renamed to a visible name beside
        `near` (else where it is), no longer removed; returns where it now is."""
        base = near if near is not None else self.path.parent / "broker-sim-run"
        kept = base.with_name(f"{base.name}.unsaved-{secrets.token_hex(3)}")
        try:
            os.rename(self.path, kept)
        except OSError:
            kept = self.path  # it stays under its hidden name: still the user's to read
        self._finalizer.detach()
        self._release()
        return kept

    def close(self) -> None:
        """Remove the folder now (its spools can no longer be read)."""
        if self._finalizer.alive:
            self._lock_fd = None
            self._finalizer()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __repr__(self) -> str:
        return f"<Workdir {self.path}>"


def _remove(path: Path, lock_fd: int) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.close(lock_fd)


def remove_stale(parent: Path) -> None:
    """Remove the working folders in `parent` whose run has died: those whose lock nobody holds."""
    try:
        entries = [entry for entry in parent.iterdir() if entry.name.startswith(WORK_PREFIX)]
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() or not entry.is_dir():
            continue
        try:
            fd = os.open(entry / _LOCK, os.O_RDWR)
        except OSError:
            continue  # no lock file: not a working folder of ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its run is alive
        try:
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed %s, the working folder of a run that died", entry)
        finally:
            os.close(fd)
