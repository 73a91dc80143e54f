"""The build hook of the optional compiled wheel (issue 25): with ``BROKER_SIM_MYPYC=1`` the modules listed under
``[tool.broker-sim.compiled]`` in pyproject.toml are compiled by mypyc into the wheel beside the pure sources
(``make wheel-compiled``); without it (every ordinary install) the build is pure Python, as pyproject.toml says."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from setuptools import setup


def _compiled_modules() -> list[Any]:
    """The extension modules mypyc makes of the listed modules, or none unless ``BROKER_SIM_MYPYC=1``."""
    if os.environ.get("BROKER_SIM_MYPYC") != "1":
        return []
    from mypyc.build import mypycify

    listed = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())
    return list(mypycify(listed["tool"]["broker-sim"]["compiled"]["modules"], opt_level="3"))


setup(ext_modules=_compiled_modules())
