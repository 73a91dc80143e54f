"""Secrets out of every output. A config's keys (`secret_key`, `APCA_API_SECRET_KEY` put in by ``${VAR}``) reach
the report's "config as run", error messages and logs; every such place shows them through here: a secret-like
key's value as ``<hidden>``, a key id as its first four characters (enough to tell two accounts apart).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["HIDDEN", "is_key_id", "is_secret", "redact", "redacted_yaml", "shown"]

#: What a secret's value is shown as.
HIDDEN = "<hidden>"
#: Words that make a key secret-like (matched in the lower-cased key).
_SECRET_WORDS = ("secret", "password", "passphrase", "token", "private_key", "credential", "api_key")
_KEY_IDS = re.compile(r"(^|_)key_?id$")
#: Characters of a key id that are shown.
KEY_ID_SHOWN = 4


def is_secret(key: object) -> bool:
    """Whether a config key names a secret (``secret_key``, ``password``, ``api_token``...)."""
    name = str(key).lower()
    return any(word in name for word in _SECRET_WORDS) and not is_key_id(name)


def is_key_id(key: object) -> bool:
    """Whether a config key names a key id (``key_id``, ``APCA_API_KEY_ID``): shown by its prefix only."""
    return bool(_KEY_IDS.search(str(key).lower()))


def shown(key: object, value: Any) -> Any:
    """`value` as it may be shown under `key`: hidden for a secret, a key id's prefix, else itself."""
    if value is None or value == "":
        return value
    if is_secret(key):
        return HIDDEN
    if is_key_id(key):
        text = str(value)
        return text[:KEY_ID_SHOWN] + "…" if len(text) > KEY_ID_SHOWN else HIDDEN
    return value


def redact(data: Any) -> Any:
    """A copy of JSON/YAML-like `data` with every secret-like key's value hidden and key ids shortened."""
    if isinstance(data, dict):
        return {
            key: shown(key, redact(value)) if is_secret(key) or is_key_id(key) else redact(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redact(item) for item in data]
    return data


def redacted_yaml(text: str) -> str:
    """A YAML document (a config as run) with its secrets hidden; text that is not YAML comes back hidden
    whole rather than risk showing one."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return HIDDEN
    return yaml.safe_dump(redact(data), sort_keys=False, allow_unicode=True)
