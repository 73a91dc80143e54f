"""best.yaml: the sweep's config with the best point's parameters set, ready for ``broker-sim run``.

It is written from the config file as written (``${VAR}`` references stay references: no secret is copied),
with the sweep's ``--set`` overrides and the point's parameters applied, and the relative paths the config
names (price files, strategy and plugin files, the report folder, a journal) rebased so that they still point at
the same files from the sweep's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from broker_sim.config import Config, apply_overrides
from broker_sim.sweeps.space import params_label

__all__ = ["best_config_text"]


def best_config_text(config: Config, overrides: Mapping[str, Any], folder: Path, summary: Mapping[str, Any]) -> str:
    """The YAML text of best.yaml (see the module docstring), headed by a comment naming the point."""
    raw: Any = None
    if config.path is not None and config.path.is_file():
        raw = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raw = yaml.safe_load(config.text) or {}
    data = apply_overrides(raw, overrides)
    _rebase(data, config.base_dir, folder.resolve())
    best = summary.get("best") or {}
    header = (
        f"# The best point of the sweep in {folder}: point {best.get('point')}, "
        f"{summary.get('objective')} = {best.get('objective')!r}\n"
        f"# {params_label(best.get('params'))}\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False)


def _moved(value: Any, base: Path, folder: Path) -> Any:
    """A relative path string, rebased from `base` to `folder` (anything else as it is)."""
    if not isinstance(value, str) or not value or "${" in value or Path(value).is_absolute():
        return value
    return os.path.relpath((base / value).resolve(), folder)


def _class_path(value: Any, base: Path, folder: Path) -> Any:
    """A strategy ``path/to/file.py:Class`` rebased; a ``module:Class`` reference as it is."""
    if not isinstance(value, str) or ".py:" not in value:
        return value
    path, _, name = value.rpartition(":")
    return f"{_moved(path, base, folder)}:{name}"


def _rebase(data: dict[str, Any], base: Path, folder: Path) -> None:
    prices = data.get("prices")
    if isinstance(prices, dict):
        for source in prices.get("sources") or []:
            if isinstance(source, dict) and "path" in source:
                path = source["path"]
                source["path"] = (
                    [_moved(p, base, folder) for p in path] if isinstance(path, list) else _moved(path, base, folder)
                )
    strategies = [data.get("strategy"), *(data.get("strategies") or [])]
    for strategy in strategies:
        if isinstance(strategy, dict) and "class" in strategy:
            strategy["class"] = _class_path(strategy["class"], base, folder)
    if isinstance(data.get("plugins"), list):
        data["plugins"] = [_moved(p, base, folder) if str(p).endswith(".py") else p for p in data["plugins"]]
    for section, key in (("report", "out"), ("broker", "journal")):
        part = data.get(section)
        if isinstance(part, dict) and key in part:
            part[key] = _moved(part[key], base, folder)
