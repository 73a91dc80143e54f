"""A small sweepable config: an SMA crossover on two synthetic symbols, hourly bars over 50 days."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
broker: {{adapter: paper, initial_balance: 100000, seed: 42, session: always}}
models: {{latency: none}}
prices:
  sources:
    - {{source: synthetic, symbols: [AAPL, MSFT], start: "2024-01-02T00:00:00Z", interval: 3600, count: {count},
        drift: 0.05, volatility: 0.3, start_price: {{AAPL: 190.0, MSFT: 410.0}}}}
strategy: {{class: {root}/examples/sma_cross.py:SmaCross, params: {{fast: 5, slow: 20, quantity: 10}}}}
report: {{equity_interval: 3600, title: sweep test}}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The config in a file of its own (tmp_path/config/sweep.yaml)."""
    folder = tmp_path / "config"
    folder.mkdir()
    path = folder / "sweep.yaml"
    path.write_text(CONFIG.format(root=ROOT, count=1200))
    return path
