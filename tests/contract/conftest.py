"""The `harness` fixture: every contract test runs once per adapter harness in `HARNESSES` that has the
capabilities the test asks for with ``@pytest.mark.needs(...)``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.harness import HARNESSES, Harness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*capabilities): run only on harnesses that have these capabilities")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "harness_name" not in metafunc.fixturenames:
        return
    wanted = {c for mark in metafunc.definition.iter_markers("needs") for c in mark.args}
    names = [name for name, spec in sorted(HARNESSES.items()) if wanted <= spec.capabilities]
    metafunc.parametrize("harness_name", names)


@pytest.fixture
async def harness(harness_name: str) -> AsyncIterator[Harness]:
    made = await HARNESSES[harness_name].factory()
    try:
        yield made
    finally:
        await made.close()
