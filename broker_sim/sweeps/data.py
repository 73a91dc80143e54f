"""Market data read once per sweep and shared by every point.

Each replay source of the sweep's config (csv, synthetic, any registered one) is replayed once and written as an
`arrow` file (`broker_sim.streams.arrow_source`); every point then replays that file memory-mapped instead of
parsing the source again, so the operating system shares its pages between the worker processes. A point whose
parameters change a source (``prices.sources.0.count``, or ``broker.seed`` for synthetic data) gets its own file,
made once for every point that shares those settings. On a Ray cluster the files travel through Ray's object
store (`broker_sim.sweeps.executors`). A source that cannot be written so (a live one, mixed event kinds) is left
as it is: each point reads it itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pyarrow as pa

from broker_sim.config import Config
from broker_sim.plugins import build_registry
from broker_sim.registry import Registry
from broker_sim.streams.arrow_source import UnsharableSource, write_events
from broker_sim.streams.base import ReplaySource
from broker_sim.wiring import build_source, plugin_manager

__all__ = ["SharedData", "SharedFile", "shared_overrides"]

log = logging.getLogger(__name__)


@attrs.frozen(slots=True)
class SharedFile:
    """One source's events, written once: the file and a digest of its content (names it on other machines)."""

    path: str
    digest: str
    rows: int

    def on_this_machine(self, content: Any) -> SharedFile:
        """This file on the machine running the point: itself when its path is here, else written once from
        `content` (its bytes, as a distributed executor ships them) into this machine's temp folder, named by the
        digest (so the same name is always the same data). For executors that run points on other machines."""
        if Path(self.path).is_file():
            return self
        folder = Path(tempfile.gettempdir()) / "broker-sim-shared"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{self.digest}.arrow"
        if not target.is_file():
            staging = folder / f".{self.digest}.{os.getpid()}.tmp"
            staging.write_bytes(memoryview(content))
            staging.replace(target)
        return attrs.evolve(self, path=str(target))


def shared_overrides(
    files: Mapping[int, SharedFile], window: tuple[float | None, float | None] | None = None
) -> dict[str, Any]:
    """The overrides that make a point replay the shared files (by source index), within `window` if given."""
    overrides: dict[str, Any] = {}
    for index, file in sorted(files.items()):
        spec: dict[str, Any] = {"source": "arrow", "path": file.path}
        if window is not None:
            spec["start"], spec["end"] = window
        overrides[f"prices.sources.{index}"] = spec
    return overrides


class SharedData:
    """The sweep's shared event files, made on first use for each distinct source setting, in a folder of their
    own that `close` removes (the sweep made every file in it)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=".broker-sim-data-", dir=folder))
        self._files: dict[str, SharedFile | None] = {}
        self._registries: dict[str, Registry] = {}

    def share(self, config: Config) -> dict[int, SharedFile]:
        """The shared file of each of `config`'s replay sources (by index), writing those not made yet."""
        shared: dict[int, SharedFile] = {}
        for index, spec in enumerate(config.prices.sources):
            key = json.dumps(
                [spec, config.seed, str(config.base_dir), list(config.plugins)], sort_keys=True, default=str
            )
            if key not in self._files:
                self._files[key] = self._write(config, spec, len(self._files))
            file = self._files[key]
            if file is not None:
                shared[index] = file
        return shared

    def _write(self, config: Config, spec: Mapping[str, Any], number: int) -> SharedFile | None:
        plugins = json.dumps([list(config.plugins), str(config.base_dir)])
        registry = self._registries.get(plugins)
        if registry is None:
            registry = self._registries[plugins] = build_registry(plugin_manager(config))
        source = build_source(config, registry, spec)
        if not isinstance(source, ReplaySource):
            log.info("source %s is not a replay source: every point reads it itself", spec.get("source"))
            return None
        path = self.folder / f"source-{number}.arrow"
        try:
            rows = write_events(source, path)
        except UnsharableSource as exc:
            log.info("%s: every point reads it itself", exc)
            return None
        return SharedFile(str(path), _digest(path), rows)

    def times(self, files: Mapping[int, SharedFile]) -> np.ndarray:
        """Every distinct delivery time (POSIX seconds) in `files`, sorted: the data's span, for walk-forward."""
        parts = []
        for file in files.values():
            with pa.memory_map(file.path) as mapped:
                table = pa.ipc.open_file(mapped).read_all()
            parts.append(table.column("seconds").to_numpy())
        return np.unique(np.concatenate(parts)) if parts else np.array([], dtype=float)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:20]
