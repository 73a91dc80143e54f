"""The sweep on Ray: one local Ray instance, started and stopped by the test (Ray's start-up takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker_sim.sweeps import sweep

pytest.importorskip("ray", reason="the [ray] extra is not installed")


def test_a_sweep_on_a_local_ray_instance_gives_the_same_table_as_one_process(config_file: Path) -> None:
    grid = {"strategy.params.fast": [3, 5], "strategy.params.slow": [20, 30]}
    serial = sweep(config_file, grid=grid, executor="serial")
    on_ray = sweep(config_file, grid=grid, executor="ray", workers=2)
    assert on_ray.equals(serial)
