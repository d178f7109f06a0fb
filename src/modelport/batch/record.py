"""What every engine does with a scored chunk, in input order: hold it to ``--max-errors``, append its
bad rows to the errors file, write its part and record the part in the manifest. One writer for both
engines, so that their output, errors file and manifest are the same for the same rows.

The manifest lists every part, so saving it costs in proportion to the parts written. Saved after
every part, a job of n parts wrote O(n²): 10^7 rows in 8,192-row parts streamed at a third of the
rate of 10^6. It is saved after every part while there are fewer than ``SAVE_FRACTION`` of them,
then once ``1 / SAVE_FRACTION`` more parts were written since the last save, or a second passed:
a constant cost per part. The job saves it whole at its end; a job killed in between resumes from
the last save and scores the parts written after it again (``prepare_resumed`` removes them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from modelport.batch.manifest import Manifest, Part
from modelport.batch.output import LocalOutput, Output
from modelport.batch.scoring import RowError, Scored

__all__ = ["SAVE_FRACTION", "SAVE_INTERVAL_S", "Outcome", "Recorder", "first_over_limit", "too_many"]

SAVE_FRACTION = 32
"""The manifest is saved again once the parts written since its last save reach 1/32 of all parts."""
SAVE_INTERVAL_S = 1.0
"""...or when this long has passed since its last save, whatever the count."""


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

    def __init__(
        self, manifest: Manifest, output: Output | Path, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``manifest`` as saved by the caller: the parts it lists are on disk already."""
        self.manifest = manifest
        self.output = LocalOutput(output) if isinstance(output, Path) else output
        self._errors = self.output.errors(manifest)
        self._clock = clock
        self._saved_at = clock()
        self._unsaved = 0

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
        self._unsaved += 1
        now = self._clock()
        due = self._unsaved * SAVE_FRACTION >= len(self.manifest.parts)
        if due or now - self._saved_at >= SAVE_INTERVAL_S:
            self.output.save_manifest(self.manifest)
            self._saved_at, self._unsaved = now, 0

    def close(self) -> None:
        self._errors.close()
