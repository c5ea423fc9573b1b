"""What every config section shares: the strict base model, secrets read at use time, and the
allowed ranges of timeouts and intervals."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from stackwatch.config.files import read_regular_file
from stackwatch.config.values import Duration, between, count_between
from stackwatch.errors import ConfigError

# the allowed range of each kind of number: zero would busy-loop or fail every call, a huge
# value would hang or retry for ever (docs/configuration.md lists them per key)
Timeout = Annotated[Duration, between("100ms", "10m")]
Interval = Annotated[Duration, between("100ms", "1d")]
StatusCode = Annotated[int, count_between(100, 599)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Model):
    """A secret read at use time from an environment variable or a file, never inline."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(
                "inline secrets are not allowed: write {env: VARIABLE} or {file: /path/to/secret}"
            )
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def get(self) -> str:
        """Read the secret now; raises ConfigError naming the variable or file when missing."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigError(f"environment variable {self.env} is not set")
            return value
        path = self.file or Path()
        # the error names the file, never a byte of what it holds
        return read_regular_file(path, "cannot read secret file", 64 * 1024).strip()


class BasicAuth(_Model):
    """HTTP basic auth, as Prometheus's own config spells it; the password is a Secret."""

    username: str
    password: Secret


class _Named(Protocol):
    @property
    def name(self) -> str: ...


NamedT = TypeVar("NamedT", bound=_Named)


def unique_names(items: Sequence[NamedT], what: str) -> Sequence[NamedT]:
    """``items`` when no two share a name; else the error names the first repeated one."""
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"duplicate {what} name {item.name!r}")
        seen.add(item.name)
    return items
