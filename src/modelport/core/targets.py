"""The ``MODEL``, ``MODEL:VERSION`` and ``MODEL@ALIAS`` syntax naming what to call."""

from __future__ import annotations

from dataclasses import dataclass

from modelport.core.errors import InvalidInput

__all__ = ["DEFAULT_ALIAS", "Target"]

DEFAULT_ALIAS = "production"
"""The alias a model's name alone stands for; without it, the newest version."""


@dataclass(frozen=True, slots=True)
class Target:
    model: str
    ref: str | None = None
    """A version number as text, an alias, or ``None`` for the model's default version."""

    @classmethod
    def parse(cls, text: str) -> Target:
        if "@" in text:
            model, _, alias = text.partition("@")
            if not alias or alias.isdigit():
                raise InvalidInput(f"{text!r}: after '@' comes an alias name, e.g. iris@production")
            return cls(model, alias) if model else cls._bad(text)
        if ":" in text:
            model, _, version = text.partition(":")
            if not version.isdigit() or int(version) < 1:
                raise InvalidInput(f"{text!r}: after ':' comes a version number, e.g. iris:2")
            return cls(model, version) if model else cls._bad(text)
        return cls(text) if text else cls._bad(text)

    @staticmethod
    def _bad(text: str) -> Target:
        raise InvalidInput(f"{text!r} is not a target; write MODEL, MODEL:VERSION or MODEL@ALIAS")

    def __str__(self) -> str:
        if self.ref is None:
            return self.model
        return f"{self.model}:{self.ref}" if self.ref.isdigit() else f"{self.model}@{self.ref}"
