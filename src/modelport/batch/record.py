"""What every engine does with a scored chunk, in input order: hold it to ``--max-errors``, append its
bad rows to the errors file, write its part and record the part in the manifest. One writer for both
engines, so that their output, errors file and manifest are the same for the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from modelport.batch.manifest import Manifest, Part
from modelport.batch.output import LocalOutput, Output
from modelport.batch.scoring import RowError, Scored

__all__ = ["Outcome", "Recorder", "first_over_limit", "too_many"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A scored chunk without its input rows (what a remote worker sends back)."""

    index: int
    start: int
    rows_in: int
    table: pa.Table
    errors: tuple[RowError, ...]

    @classmethod
    def of(cls, scored: Scored) -> Outcome:
        chunk = scored.chunk
        return cls(chunk.index, chunk.start, chunk.table.num_rows, scored.table, scored.errors)


def first_over_limit(max_errors: int, failed_before: int, errors: Sequence[RowError]) -> int | None:
    """The position in ``errors`` of the first bad row past ``max_errors``, if there is one."""
    room = max(max_errors - failed_before, 0)
    return room if room < len(errors) else None


def too_many(last: RowError, manifest: Manifest) -> str:
    if manifest.max_errors == 0:
        return f"{last.message()}; --max-errors N lets N bad rows go to the errors file"
    return (
        f"more than {manifest.max_errors} bad rows (see {manifest.errors_file}); the last: {last.message()}"
    )


class Recorder:
    """Writes outcomes, in order, into ``output`` (a ``Path``: a local directory) and its manifest."""

    def __init__(self, manifest: Manifest, output: Output | Path) -> None:
        self.manifest = manifest
        self.output = LocalOutput(output) if isinstance(output, Path) else output
        self._errors = self.output.errors(manifest)

    def write(self, outcome: Outcome, complete: bool) -> None:
        """Its bad rows, then (when ``complete``: within ``--max-errors``) its part and the manifest."""
        errors_end = self._errors.append(outcome.index, outcome.errors)
        if not complete:
            return
        table = outcome.table
        file = self.output.write_part(outcome.index, table, self.manifest.format) if table.num_rows else None
        self.manifest.add(
            Part(
                outcome.index,
                file,
                outcome.start,
                outcome.rows_in,
                table.num_rows,
                len(outcome.errors),
                errors_end,
            )
        )
        self.output.save_manifest(self.manifest)

    def close(self) -> None:
        self._errors.close()
