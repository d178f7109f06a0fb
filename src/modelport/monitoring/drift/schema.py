"""Which features can be compared at all: the same name, and the same kind of value, on both sides.

A feature the live data has and the reference lacks (a 2-D input that grew columns) or the other
way round (one that lost them) cannot be measured; nor can one that is text on one side and
numbers on the other (a ``hash``-redacted numeric input). Each is reported, never left out
silently. Text that is all numbers written as text (``"1.20"`` against a numeric reference) is
read as numbers first: that is the same value, not a different kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelport.monitoring.drift.features import Features

__all__ = ["Alignment", "align", "notes", "value_kind"]

NULL_TEXT = "(null)"
"""How ``column_array`` writes a null in a text column."""


@dataclass(frozen=True)
class Alignment:
    reference: Features = field(default_factory=dict)
    """The features both sides have, of one kind; numbers written as text read as numbers."""
    live: Features = field(default_factory=dict)
    type_mismatches: list[dict[str, str]] = field(default_factory=list)
    """``{"feature", "reference", "live"}``: the kind (``text`` or ``number``) on each side."""
    live_only: list[str] = field(default_factory=list)
    reference_only: list[str] = field(default_factory=list)

    @property
    def problems(self) -> bool:
        return bool(self.type_mismatches or self.live_only or self.reference_only)


def value_kind(values: np.ndarray[Any, Any]) -> str:
    """``text`` for strings and bytes, else ``number`` (booleans included)."""
    return "text" if values.dtype.kind in "OSU" else "number"


def align(reference: Features, live: Features) -> Alignment:
    """The comparable features of ``reference`` and ``live`` (in the reference's order), and the
    rest, sorted into type mismatches and features on one side only."""
    result = Alignment(
        live_only=[name for name in live if name not in reference],
        reference_only=[name for name in reference if name not in live],
    )
    for name in reference:
        if name not in live:
            continue
        ref: np.ndarray[Any, Any] | None = reference[name]
        cur: np.ndarray[Any, Any] | None = live[name]
        kinds = value_kind(reference[name]), value_kind(live[name])
        if kinds[0] != kinds[1]:
            ref, cur = (ref, _numbers(live[name])) if kinds[1] == "text" else (_numbers(reference[name]), cur)
        if ref is None or cur is None:
            result.type_mismatches.append({"feature": name, "reference": kinds[0], "live": kinds[1]})
            continue
        result.reference[name], result.live[name] = ref, cur
    return result


def _numbers(text: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """Text as float64 (nulls as NaN) when every value is a number written as text, else None."""
    values = pa.array(text.astype(str))
    values = pc.if_else(pc.equal(values, NULL_TEXT), pa.scalar(None, values.type), values)
    try:
        numbers = pc.cast(pc.utf8_trim_whitespace(values), pa.float64())
    except pa.ArrowInvalid:
        return None
    return np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)


def notes(report: Mapping[str, Any]) -> list[str]:
    """A report's features that could not be compared, and why its outputs were left out, as
    sentences for the command line and the HTML page."""
    found = [
        f"{m['feature']}: {m['live']} live against {m['reference']} in the reference (type mismatch)"
        for m in report.get("type_mismatches", [])
    ]
    unmatched = report.get("unmatched_features", {})
    if unmatched.get("live_only"):
        found.append(f"not in the reference: {', '.join(unmatched['live_only'])}")
    if unmatched.get("reference_only"):
        found.append(f"no live values: {', '.join(unmatched['reference_only'])}")
    if "outputs_reason" in report:
        found.append(f"outputs: {report['outputs_reason']}")
    return found
