"""Benchmarks that add their own section to docs/performance.md after `benchmarks/run.py` wrote it."""

from __future__ import annotations

import re
import sys
from pathlib import Path


def write_section(doc: Path, heading: str, body: str) -> None:
    """Replace the section that starts with ``heading`` (``## ...``) in ``doc`` with ``body``, or
    put ``body`` before ``## Versions`` when there is none yet."""
    text = doc.read_text()
    body = body.rstrip("\n") + "\n\n"  # one blank line before the next section
    start = text.find(heading)
    if start >= 0:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + body + (text[end + 1 :] if end >= 0 else "")
    else:
        at = text.find("## Versions")
        text = text[:at] + body + text[at:] if at >= 0 else text + "\n" + body
    doc.write_text(text)


def write_between(doc: Path, begin: str, end: str, body: str) -> None:
    """Replace what lies between the ``begin`` and ``end`` markers in ``doc`` with ``body``."""
    text = doc.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"{doc} has no {begin} ... {end} markers")
    doc.write_text(pattern.sub(lambda _: f"{begin}\n{body}{end}", text))
