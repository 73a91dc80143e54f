"""A sweep's folder: the points as they finish, the results table (CSV and Parquet), what ``--resume`` reads.

* ``sweep.json`` marks the folder as a sweep's and holds what defines it (the config, the parameters, the
  search, the objective): ``--resume`` goes on only with the same definition.
* ``points.jsonl``: one line per finished point (its parameters, figures, returns or error), appended and
  flushed as each finishes. It is what ``--resume`` reads; a line cut short by a crash is dropped (that point
  runs again).
* ``results.csv``: the table's row of each point, appended as it finishes; ``results.parquet`` rewritten every
  few seconds. Both are rewritten at the end sorted by point, with the overfitting statistics.

A folder that exists, is not empty and is not a sweep's is refused; so is a sweep's folder without ``--resume``
(nothing is overwritten). Files are replaced whole (written beside, then renamed).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from broker_sim.clock import RealtimeClock
from broker_sim.errors import ConfigError

__all__ = ["MARKER", "SweepFolder", "table_row"]

#: Elapsed times (points/s, a point's seconds) are read from the wall clock object.
_WALL = RealtimeClock()

#: The file that makes a folder a sweep's (and holds its definition).
MARKER = "sweep.json"
_POINTS = "points.jsonl"
_CSV = "results.csv"
_PARQUET = "results.parquet"
#: Seconds between rewrites of results.parquet while points finish.
PARQUET_EVERY_S = 2.0


def cell(value: Any) -> Any:
    """A value as the table holds it: numbers, text and booleans as they are; anything else (a model's dict, a
    list) as JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def table_row(record: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """A finished point's row of the table: `columns` from its record (parameters, figures, error)."""
    params = record.get("params", {})
    metrics = record.get("metrics", {})
    row: dict[str, Any] = {}
    for column in columns:
        if column in params:
            row[column] = cell(params[column])
        elif column in metrics:
            row[column] = metrics[column]
        else:
            row[column] = cell(record.get(column))
    return row


class SweepFolder:
    """The folder a sweep writes into (see the module docstring). `definition` is what makes two runs the
    same sweep; `columns` the table's columns in order."""

    def __init__(self, path: str | Path, definition: Mapping[str, Any], columns: Sequence[str], resume: bool) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self._last_parquet = 0.0
        self.records: dict[str, dict[str, Any]] = {}
        marker = self.path / MARKER
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"sweep folder {self.path} is a file, not a folder")
        if marker.is_file():
            if not resume:
                raise ConfigError(
                    f"sweep folder {self.path} holds a sweep already: give --resume to go on with it, "
                    "or another --out for a new one"
                )
            self._check_same(marker, definition)
            self.records = self._read_points()
        elif self.path.exists() and any(self.path.iterdir()):
            raise ConfigError(
                f"sweep folder {self.path} is not empty and holds no sweep ({MARKER}); "
                "give an empty or new folder (nothing in it was touched)"
            )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            _replace_text(marker, json.dumps({"broker_sim_sweep": 1, **definition}, indent=2, default=str) + "\n")
        self._rewrite_csv()
        self._points = (self.path / _POINTS).open("a", encoding="utf-8")
        self._csv_file = (self.path / _CSV).open("a", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._csv_file, self.columns, extrasaction="ignore")

    def _check_same(self, marker: Path, definition: Mapping[str, Any]) -> None:
        try:
            saved = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"sweep folder {self.path}: {MARKER} cannot be read ({exc})") from None
        wanted = json.loads(json.dumps(dict(definition), default=str))
        for key, value in wanted.items():
            if saved.get(key) != value:
                raise ConfigError(
                    f"--resume: the sweep in {self.path} was run with another {key} "
                    f"({_short(saved.get(key))}, now {_short(value)}); give another --out for a new sweep"
                )

    def _read_points(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        path = self.path / _POINTS
        if not path.is_file():
            return records
        with path.open("r", encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # cut short by a crash: that point runs again
                if isinstance(record, dict) and "key" in record:
                    records[str(record["key"])] = record
        # The file is rewritten without the cut line, so appending goes on from a whole line.
        _replace_text(path, "".join(json.dumps(r, default=str) + "\n" for r in records.values()))
        return records

    def _rewrite_csv(self, rows: Iterable[Mapping[str, Any]] | None = None) -> None:
        rows = rows if rows is not None else (table_row(r, self.columns) for r in self.records.values())
        staging = self.path / f".{_CSV}.tmp"
        with staging.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        staging.replace(self.path / _CSV)

    def add(self, record: dict[str, Any], frame: Any = None) -> None:
        """Record a finished point: its line in points.jsonl and its row in results.csv, both flushed to disk;
        results.parquet is rewritten from `frame` (a callable giving the table so far) every few seconds."""
        self.records[str(record["key"])] = record
        self._points.write(json.dumps(record, default=str) + "\n")
        self._points.flush()
        os.fsync(self._points.fileno())
        self._csv.writerow(table_row(record, self.columns))
        self._csv_file.flush()
        now = _WALL.time()
        if frame is not None and now - self._last_parquet >= PARQUET_EVERY_S:
            self._last_parquet = now
            self.write_parquet(frame())

    def write_parquet(self, table: Any) -> None:
        """Write the table (a DataFrame) as results.parquet, whole."""
        staging = self.path / f".{_PARQUET}.tmp"
        table.to_parquet(staging, index=False)
        staging.replace(self.path / _PARQUET)

    def write_table(self, table: Any) -> None:
        """The final table, sorted, with every column: results.csv and results.parquet."""
        self._csv_file.close()
        columns = list(table.columns)
        self.columns = columns
        self._rewrite_csv(table.to_dict("records"))
        self.write_parquet(table)
        self._csv_file = (self.path / _CSV).open("a", encoding="utf-8", newline="")
        self._csv = csv.DictWriter(self._csv_file, self.columns, extrasaction="ignore")

    def write_text(self, name: str, text: str) -> Path:
        """Write one of the sweep's own files (the page, best.yaml, summary.json) whole."""
        target = self.path / name
        _replace_text(target, text)
        return target

    def close(self) -> None:
        self._points.close()
        self._csv_file.close()


def _replace_text(target: Path, text: str) -> None:
    staging = target.with_name(f".{target.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    staging.replace(target)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def finite(value: Any) -> bool:
    """Whether `value` is a finite number (an objective that can be ranked)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
