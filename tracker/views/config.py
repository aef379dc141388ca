"""`tracker config`: the settings of config.toml, as text or JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tracker.views.base import echo, emit_json

Value = str | tuple[str, ...] | None

# A notifier's URL may carry a password (apprise:mailto://me:PASSWORD@host): never shown.
_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def shown(key: str, value: Value) -> Value:
    if key == "notify" and value is not None:
        items = (value,) if isinstance(value, str) else value
        return tuple(_PASSWORD.sub(r"\1***@", item) for item in items)
    return value


def _lines(value: Value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _json(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value


class Text:
    def config_settings(self, file: str, values: Mapping[str, Value]) -> None:
        echo(f"Config file: {file}")
        width = max(len(key) for key in values)
        for key, value in values.items():
            lines = _lines(shown(key, value)) or ["(not set)"]
            echo(f"  {key:<{width}}  {lines[0]}")
            for line in lines[1:]:
                echo(f"  {'':<{width}}  {line}")

    def config_value(self, key: str, value: Value) -> None:
        for line in _lines(shown(key, value)):
            echo(line)


class Json:
    def config_settings(self, file: str, values: Mapping[str, Value]) -> None:
        emit_json(
            {"file": file, "settings": {key: _json(shown(key, v)) for key, v in values.items()}}
        )

    def config_value(self, key: str, value: Value) -> None:
        # Always a list, so that the key has one type: one value, or an address's lines.
        emit_json({"key": key, "values": _lines(shown(key, value))})
