"""Which folder a report may go into. A report replaces its folder whole, so broker-sim only ever replaces a
folder that is itself a broker-sim report: one holding the marker file (`MARKER`) a report writes, and nothing
but the files that marker lists. A new or empty folder is fine too; any other target (a folder holding the
user's own files or earlier reports, the working folder, a file, a symbolic link) is refused with a
`ReportFolderError` before the run starts, and nothing is touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from broker_sim.errors import ConfigError

__all__ = ["MARKER", "ReportFolderError", "check_target", "marker_text", "replaceable"]

#: The file a report writes last into its folder: it says "this folder is a broker-sim report" and lists the
#: report's files. A folder is only ever replaced when it holds this and nothing else but the files listed.
MARKER = ".broker-sim-report"
_APPLICATION = "broker-sim report"
#: How many of a refused folder's foreign entries the message names.
_NAMED = 3


class ReportFolderError(ConfigError):
    """A report folder cannot be used (it holds files broker-sim did not write, it is a file or the working
    folder, or it cannot be written); nothing was touched. The message names the folder and what to do."""


def marker_text(files: Iterable[str]) -> str:
    """The marker's content for a report made of `files` (names inside its folder)."""
    return json.dumps({"application": _APPLICATION, "files": sorted(files)}, indent=1) + "\n"


def _listed(folder: Path) -> set[str] | None:
    """The files the marker in `folder` lists, or None when it has no readable broker-sim marker."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("application") != _APPLICATION or not isinstance(data.get("files"), list):
        return None
    return {name for name in data["files"] if isinstance(name, str)}


def replaceable(folder: Path) -> list[str]:
    """What in the existing folder `folder` broker-sim did not write (empty: it may be replaced): every entry
    of a folder without a marker, else those its marker does not list."""
    entries = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir())
    if not entries:
        return []
    listed = _listed(folder)
    if listed is None:
        return entries
    return [name for name in entries if name != MARKER and name not in listed]


def check_target(out_dir: str | Path) -> Path:
    """`out_dir` as a report folder: returned when the report may go there, else a `ReportFolderError`
    (nothing touched) saying why. Called before a run starts and again just before its report replaces the
    folder."""
    target = Path(out_dir)
    if target.is_symlink():
        raise ReportFolderError(
            f"report folder {target} is a symbolic link: give the folder itself, or a new one, e.g. {_example(target)}"
        )
    for place in (target, *target.parents):
        if place.exists() and not place.is_dir():
            raise ReportFolderError(f"report folder {target}: {place} is a file, not a folder")
    absolute = Path(os.path.abspath(target))
    working = Path.cwd()
    if absolute == working or absolute in working.parents or absolute.parent == absolute:
        raise ReportFolderError(
            f"report folder {target} is the working folder or holds it: a report replaces its folder whole, so it "
            f"needs a folder of its own, e.g. {_example(target)}"
        )
    if target.is_dir():
        foreign = replaceable(target)
        if foreign:
            more = len(foreign) - _NAMED
            named = ", ".join(foreign[:_NAMED]) + (f" and {more} more" if more > 0 else "")
            raise ReportFolderError(
                f"report folder {target} holds files broker-sim did not write ({named}): a report replaces its "
                f"folder whole, so it goes only into a new or empty folder or one holding an earlier report; "
                f"choose another folder, e.g. {_example(target)}"
            )
    return target


def _example(target: Path) -> str:
    """A folder name to suggest instead of `target`: a new one inside it (or beside the working folder)."""
    base = target if str(target) not in ("", ".") else Path("reports")
    return str(base / "new_run")
