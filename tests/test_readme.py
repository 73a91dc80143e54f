"""Every Python block in README.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_opens_with_the_two_commands() -> None:
    head = README.read_text().split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs(block: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(block, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_strategy_trades_as_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(BLOCKS[0], str(README), "exec"), {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    # Bought 10 at 99 (+5 bps), sold 10 at 106 (-5 bps): realized P&L = 10 * (105.947 - 99.0495).
    assert "realized_pnl=68.975" in printed
