"""What the payload log records for one model or endpoint: how many requests, and which inputs how.

Stored per name in the registry. Which names the redaction rules may use depends on the model's
signature; the registry checks that, this type only checks its own shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from modelport.core.errors import InvalidInput

__all__ = ["MonitorConfig", "Redaction", "strictest"]


class Redaction(StrEnum):
    DROP = "drop"
    """The input is never written: no column at all."""
    HASH = "hash"
    """The input is written as the hex sha256 of each row's value."""
    KEEP = "keep"
    """The input is written as it came (the default)."""

    @classmethod
    def parse(cls, text: object, input_name: str) -> Redaction:
        try:
            return cls(text.lower()) if isinstance(text, str) else cls(str(text))
        except ValueError:
            allowed = ", ".join(r.value for r in cls)
            raise InvalidInput(
                f"redaction of input {input_name!r} must be one of {allowed}, got {text!r}"
            ) from None


_STRICTNESS = {Redaction.KEEP: 0, Redaction.HASH: 1, Redaction.DROP: 2}


def strictest(rule_sets: Iterable[Mapping[str, Redaction]]) -> dict[str, Redaction]:
    """Per input, the strictest rule any of ``rule_sets`` gives it (drop over hash over keep)."""
    merged: dict[str, Redaction] = {}
    for rules in rule_sets:
        for name, rule in rules.items():
            if _STRICTNESS[rule] > _STRICTNESS[merged.get(name, Redaction.KEEP)]:
                merged[name] = rule
    return merged


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    sample_rate: float = 0.0
    """Share of successful requests written to the payload log, 0 (off) to 1 (all)."""
    redact: Mapping[str, Redaction] = field(default_factory=lambda: MappingProxyType({}))
    """Input name → what to write of it; inputs not named here are kept."""

    def __post_init__(self) -> None:
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
            raise InvalidInput(f"sample_rate must be a number between 0 and 1, got {rate!r}")
        if not 0 <= rate <= 1:
            raise InvalidInput(f"sample_rate must be between 0 and 1, got {rate!r}")
        if not isinstance(self.redact, Mapping):
            raise InvalidInput("redact must map input names to drop, hash or keep")
        rules = {}
        for name, rule in self.redact.items():
            if not isinstance(name, str) or not name:
                raise InvalidInput(f"redact keys are input names, got {name!r}")
            rules[name] = Redaction.parse(rule, name)
        object.__setattr__(self, "sample_rate", float(rate))
        object.__setattr__(self, "redact", MappingProxyType(rules))

    def with_redaction(self, redact: Mapping[str, Redaction]) -> MonitorConfig:
        """The same sampling rate with other redaction rules."""
        return MonitorConfig(self.sample_rate, redact)

    @property
    def enabled(self) -> bool:
        return self.sample_rate > 0

    def to_dict(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate, "redact": {k: v.value for k, v in self.redact.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorConfig:
        if not isinstance(data, Mapping):
            raise InvalidInput("a monitor config is an object with sample_rate and redact")
        unknown = sorted(set(data) - {"sample_rate", "redact"})
        if unknown:
            raise InvalidInput(f"unknown monitor setting {unknown[0]!r}; known: redact, sample_rate")
        return cls(data.get("sample_rate", 0.0), data.get("redact") or {})
