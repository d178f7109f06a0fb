"""Finds the shell and Python examples of README.md and docs/*.md, and what each one shows it prints.

An example is a fenced block in ``bash``, ``sh``, ``shell``, ``console`` or ``python``. Every one runs
in tests/e2e/test_doc_examples.py, unless the line above its fence says why it cannot:
``<!-- example: not-run (reason) -->`` (an HTML comment, invisible once rendered). A block in another
language (``text``, none) whose first line reads as a command or as Python is an error, so an example
cannot escape by its fence's language.

A comment in an example whose text starts with ``{`` or ``[`` (``# {"version": 2, ...}``) is output
the example shows; the comment lines below it continue it while its brackets are open. The block's
output must match it, where ``...`` stands for anything and white space does not count. In a
``console`` block, the lines without a ``$ `` prompt are output, matched the same way.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SHELL = frozenset({"bash", "sh", "shell", "console"})
RUNNABLE = SHELL | {"python"}

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<language>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_MARKER = re.compile(r"<!-- example: not-run \((?P<reason>.+?)\) -->")
_SHOWN = re.compile(r"#\s*(?P<output>[\[{].*)$")
_COMMENT = re.compile(r"^\s*#(?P<text>.*)$")
_LOOKS_RUNNABLE = re.compile(r"^(\$ |modelport |curl |make |pip |python |import |from \S+ import )")


@dataclass(frozen=True)
class Example:
    doc: Path
    line: int
    language: str
    code: str
    not_run: str | None
    """Why it cannot run here, from its marker; None for an example that runs."""

    @property
    def where(self) -> str:
        return f"{_name(self.doc)}:{self.line}"

    def script(self) -> str:
        """The code to run: a console block's ``$ `` lines, otherwise the whole block."""
        if self.language != "console":
            return self.code
        return "\n".join(line[2:] for line in self.code.splitlines() if line.startswith("$ "))

    def shown_output(self) -> list[str]:
        """What the example shows it prints: output comments, and a console block's other lines."""
        lines = self.code.splitlines()
        if self.language == "console":
            return [line for line in lines if line.strip() and not line.startswith("$ ")]
        shown: list[str] = []
        for line in lines:
            comment = _COMMENT.match(line)
            if shown and comment and _open(shown[-1]):
                shown[-1] += comment["text"]
            elif match := _SHOWN.search(line):
                shown.append(match["output"].strip())
        return shown


def examples(doc: Path) -> list[Example]:
    """Every runnable block of ``doc``, in order; ValueError for a command hidden in another language."""
    text = doc.read_text()
    found = []
    for fence in _FENCE.finditer(text):
        line = text.count("\n", 0, fence.start()) + 1
        language = fence["language"].lower()
        code = textwrap.dedent(fence["body"])
        if language not in RUNNABLE:
            first = next((s.strip() for s in code.splitlines() if s.strip()), "")
            if _LOOKS_RUNNABLE.match(first):
                raise ValueError(
                    f"{_name(doc)}:{line}: a ```{language} block that reads as an example; "
                    "fence it as bash or python so that it is run (or mark it not-run, with the reason)"
                )
            continue
        before = text[: fence.start()].rstrip().rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        found.append(Example(doc, line, language, code, marker["reason"] if marker else None))
    return found


def matches(shown: str, output: str) -> bool:
    """``shown`` occurs in ``output``, where ``...`` is anything and white space is left out of both."""
    pattern = ".*?".join(re.escape("".join(piece.split())) for piece in shown.split("..."))
    return re.search(pattern, "".join(output.split()), re.DOTALL) is not None


def _name(doc: Path) -> str:
    return str(doc.relative_to(ROOT)) if doc.is_relative_to(ROOT) else str(doc)


def _open(output: str) -> bool:
    """``output`` has brackets still to close: the next comment line continues it."""
    return sum(output.count(c) for c in "[{") > sum(output.count(c) for c in "]}")
