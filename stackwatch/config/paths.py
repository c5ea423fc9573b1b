"""Relative paths of a loaded config made absolute against the config file's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from stackwatch.config.sections import RulesConfig

M = TypeVar("M", bound=BaseModel)


def _absolute(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, BaseModel):
        return resolve_paths(value, base)
    if isinstance(value, list):
        return [_absolute(item, base) for item in value]
    return value


def resolve_paths(model: M, base: Path) -> M:
    """``model`` with every relative ``Path`` in it, and rule globs, made absolute under ``base``.

    So the same config names the same database, outbox and rule files whatever the working
    folder of the process reading it: two folders, one alert state, one mail.
    """
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        new = _absolute(value, base)
        if isinstance(model, RulesConfig) and name == "paths":
            new = [p if Path(p).is_absolute() else str(base / p) for p in value]
        if new is not value:
            update[name] = new
    return model.model_copy(update=update) if update else model
