"""The layout's limits, measured: no function above cyclomatic complexity 15 (radon), no module over
400 lines, no asset function body over 40 lines, and the library never imports Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

from radon.complexity import cc_visit

from tests.helpers import PROJECT

MAX_COMPLEXITY = 15
MAX_MODULE_LINES = 400
MAX_ASSET_BODY_LINES = 40
CODE = ("hotline_eval", "assets", "sensors")


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (PROJECT / folder).rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(PROJECT))


def test_no_function_is_more_complex_than_the_limit() -> None:
    too_complex = [f"{_name(path)}:{block.lineno} {block.fullname} ({block.complexity})"
                   for path in _modules(*CODE)
                   for block in cc_visit(path.read_text(encoding="utf-8"))
                   if type(block).__name__ == "Function" and block.complexity > MAX_COMPLEXITY]
    assert too_complex == []


def test_no_module_is_longer_than_the_limit() -> None:
    too_long = [f"{_name(path)} ({n} lines)" for path in _modules(*CODE)
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert too_long == []


def _is_asset(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    # (or a project decorator wrapping @dg.asset, e.g. assets/requests.py:_single_run_asset)
    return name in ("asset", "multi_asset", "asset_check", "multi_asset_check") or name.endswith("_asset")


def test_asset_bodies_are_thin() -> None:
    fat = []
    for path in _modules("assets"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(_is_asset(d) for d in node.decorator_list):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                lines = node.end_lineno - body[0].lineno + 1
                if lines > MAX_ASSET_BODY_LINES:
                    fat.append(f"{_name(path)}:{node.lineno} {node.name} ({lines} lines)")
    assert fat == []


def test_the_library_never_imports_dagster() -> None:
    importing = []
    for path in _modules("hotline_eval"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            importing += [f"{_name(path)}: {n}" for n in names if n.split(".")[0].startswith("dagster")]
    assert importing == []
