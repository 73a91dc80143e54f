"""``progress=True``: the run's progress bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import Progress

__all__ = ["ProgressBar", "ProgressCallback"]

ProgressCallback = Callable[[int, int | None], None]


class ProgressBar:
    """``progress=True``: a rich progress bar on stderr (rich is a dependency already)."""

    def __init__(self) -> None:
        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("replay", total=total)
        self.bar.update(self.task, completed=done, total=max(total or done, done))

    def stop(self) -> None:
        self.bar.stop()
