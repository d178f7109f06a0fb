"""The data plane stays below the outer ring and beside batch (docs/architecture.md): no module of
``modelport.serving`` imports batch, control, the server assembly, the CLI or the client, at the top
or inside a function. Explanations get their reference inputs from the assembly instead."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import modelport.serving

SERVING = Path(modelport.serving.__file__).parent
FORBIDDEN = ("batch", "cli", "client", "control", "server")


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module an import names, with its line; ``from modelport import x`` names ``modelport.x``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"line {node.lineno}: a relative import, which this check cannot resolve"
            module = node.module or ""
            yield node.lineno, module
            yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)


def _is_forbidden(module: str) -> bool:
    return any(
        module == f"modelport.{layer}" or module.startswith(f"modelport.{layer}.") for layer in FORBIDDEN
    )


def test_serving_imports_no_layer_above_or_beside_it() -> None:
    paths = sorted(SERVING.rglob("*.py"))
    assert SERVING / "explaining.py" in paths
    found = [
        f"{path.relative_to(SERVING)}:{line} imports {module}"
        for path in paths
        for line, module in _imported(ast.parse(path.read_text(encoding="utf-8")))
        if _is_forbidden(module)
    ]
    assert not found, found


def test_the_check_sees_lazy_imports() -> None:
    source = "def f():\n    from modelport.batch.reference import reference_inputs\n"
    assert [module for _, module in _imported(ast.parse(source)) if _is_forbidden(module)]
