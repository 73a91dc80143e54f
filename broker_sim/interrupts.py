"""Stopping a run on request: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) ask it to stop at the next
safe point, so it can still write what it did; a second Ctrl-C interrupts at once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from broker_sim.errors import BrokerError

__all__ = ["RunInterrupted", "StopSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class RunInterrupted(BrokerError):
    """A run stopped early because it was asked to (`signal_name`: SIGINT, SIGTERM or SIGHUP)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP)."""
        return 128 + int(getattr(signal, self.signal_name))


class StopSignals:
    """While active (``with StopSignals(...):``), SIGINT, SIGTERM and SIGHUP set `requested` and call `on_stop`; the
    run checks `requested` at safe points (each replay block: well under a second). A second SIGINT raises
    KeyboardInterrupt at once. Outside the main thread (where signals cannot be handled) it does nothing."""

    def __init__(self, on_stop: Callable[[], None] | None = None) -> None:
        self.on_stop = on_stop
        #: The name of the signal that asked the run to stop, or None.
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        if self.on_stop is not None:
            self.on_stop()

    def check(self) -> None:
        """Raise `RunInterrupted` if a stop was asked for."""
        if self.requested is not None:
            raise RunInterrupted(self.requested)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for number in _SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
