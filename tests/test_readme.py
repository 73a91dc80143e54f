"""Every Python block in README.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.rejections import assert_few_failures

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text().split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_strategy_trades_as_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    block = next(b for b in BLOCKS if "async def on_price" in b)
    exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    # Bought 10 at 99 (+5 bps), sold 10 at 106 (-5 bps): realized P&L = 10 * (105.947 - 99.0495).
    assert "realized_pnl=68.975" in printed


YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_config_is_valid_as_written() -> None:
    from broker_sim.wiring import parse_config

    config_block = next(b for b in YAML_BLOCKS if "strategies:" in b)
    config = parse_config(config_block, base_dir=README.parent / "configs", env={})
    assert config.seed == 42
    assert [s.name for s in config.all_strategies] == ["fast", "hold"]


def test_readme_config_runs_with_few_failed_orders() -> None:
    from collections import Counter

    from broker_sim import run_simulation
    from broker_sim.wiring import parse_config

    config_block = next(b for b in YAML_BLOCKS if "strategies:" in b)
    result = run_simulation(parse_config(config_block, base_dir=README.parent / "configs", env={}), out=False)
    assert_few_failures(Counter(order.status.value for order in result.orders), "README's 'A config'")
    assert {fill.strategy for fill in result.fills} == {"fast", "hold"}


def test_readme_breakout_strategy_runs(tmp_path: Path) -> None:
    from collections import Counter

    from broker_sim import run_simulation
    from broker_sim.wiring import parse_config

    block = next(b for b in BLOCKS if "class Breakout" in b)
    (tmp_path / "breakout.py").write_text(block)
    text = (
        "broker: {session: always}\n"
        "prices: {sources: [{source: synthetic, symbols: [AAPL], count: 300}]}\n"
        "strategy: {class: breakout.py:Breakout, params: {quantity: 5}}\n"
    )
    result = run_simulation(parse_config(text, base_dir=tmp_path))
    assert result.fills and all(f.quantity == 5 for f in result.fills)
    assert_few_failures(Counter(order.status.value for order in result.orders), "README's Breakout")
