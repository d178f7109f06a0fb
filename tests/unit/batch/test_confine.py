"""A server job's paths stay under ``jobs.allowed_roots``: traversal, symlinks and globs cannot leave."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.batch.confine import confine
from modelport.core.errors import Forbidden, InvalidInput


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``root`` with ``in.csv``, and ``outside`` (beside it) with ``secret.csv``."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "in.csv").write_text("a\n1\n")
    (outside / "secret.csv").write_text("a\n2\n")
    return root, outside


def test_paths_inside_a_root_are_resolved(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = tree
    (tmp_path / "alias").symlink_to(root)  # a root named through a symlink is the same root
    confined = confine(f"{root}/in.csv", f"{root}/out", f"{root}/bad.jsonl", [tmp_path / "alias"])
    assert (confined.input, confined.output, confined.errors) == (
        str(root / "in.csv"),
        root / "out",
        root / "bad.jsonl",
    )


LINK_OUT = "input file {root}/link.csv (resolved: {outside}/secret.csv) is outside"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("traversal", "input {root}/../outside/secret.csv (resolved: {outside}/secret.csv) is outside"),
        ("symlinked file", "input {root}/link.csv (resolved: {outside}/secret.csv) is outside"),
        ("symlinked output", "output {root}/linkdir/out (resolved: {outside}/out) is outside"),
        ("glob outside", "input '{outside}/*.csv': the glob's directory {outside} is outside"),
        ("glob reaching a symlink", LINK_OUT),
        ("directory with a symlink", LINK_OUT),
        ("output traversal", "output {root}/../outside/out (resolved: {outside}/out) is outside"),
        ("errors outside", "errors {outside}/bad.jsonl is outside"),
        ("output is the root", "output {root} is a root of jobs.allowed_roots"),
    ],
)
def test_a_path_leaving_the_roots_is_forbidden(tree: tuple[Path, Path], case: str, message: str) -> None:
    root, outside = tree
    (root / "link.csv").symlink_to(outside / "secret.csv")
    (root / "linkdir").symlink_to(outside)
    good_in, good_out = f"{root}/in.csv", f"{root}/out"
    paths = {
        "traversal": (f"{root}/../outside/secret.csv", good_out, None),
        "symlinked file": (f"{root}/link.csv", good_out, None),
        "symlinked output": (good_in, f"{root}/linkdir/out", None),
        "glob outside": (f"{outside}/*.csv", good_out, None),
        "glob reaching a symlink": (f"{root}/*.csv", good_out, None),
        "directory with a symlink": (str(root), good_out, None),
        "output traversal": (good_in, f"{root}/../outside/out", None),
        "errors outside": (good_in, good_out, f"{outside}/bad.jsonl"),
        "output is the root": (good_in, str(root), None),
    }[case]
    with pytest.raises(Forbidden) as refused:
        confine(*paths, [root])
    assert refused.value.message.startswith(message.format(root=root, outside=outside)), refused.value.message


def test_no_root_means_server_jobs_are_off(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    with pytest.raises(Forbidden, match=r"server jobs are off: name a directory in jobs.allowed_roots"):
        confine(f"{root}/in.csv", f"{root}/out", None, [])


@pytest.mark.parametrize(
    ("spec", "output", "message"),
    [
        ("-", "{root}/out", "a server job cannot read standard input ('-')"),
        ("in.csv", "{root}/out", "input 'in.csv' is not an absolute path (paths are on the server)"),
        ("{root}/in.csv", "out", "output 'out' is not an absolute path"),
    ],
)
def test_stdin_and_relative_paths_are_refused(
    tree: tuple[Path, Path], spec: str, output: str, message: str
) -> None:
    root, _ = tree
    with pytest.raises(InvalidInput) as refused:
        confine(spec.format(root=root), output.format(root=root), None, [root])
    assert refused.value.message.startswith(message)
