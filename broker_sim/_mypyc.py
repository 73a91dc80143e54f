"""`mypyc_attr`, the class settings of the optional compiled build (`make compiled`), importable without mypyc.

mypyc reads the decorator where a compiled module's class is defined (``@mypyc_attr(allow_interpreted_subclasses=
True)`` on a class that Python code subclasses); a pure install, which need not have ``mypy_extensions``, gets a
decorator that changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["mypyc_attr"]

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:
    try:
        from mypy_extensions import mypyc_attr
    except ImportError:  # a pure install: nothing compiles, nothing to set

        def mypyc_attr(*_names, **_settings):
            """Leave the class as it is (what ``mypy_extensions.mypyc_attr`` does at run time)."""
            return lambda cls: cls
