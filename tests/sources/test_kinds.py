"""Source kinds are plugins: every kind of the ``Source`` union has its connector, and no code outside
``hotline_eval/sources/`` asks a source for its kind."""

from __future__ import annotations

import ast
import typing

import pytest
from pydantic import ValidationError

from hotline_eval.sources import CONNECTORS, Source, connector, parse_source
from tests.helpers import PROJECT

OUTSIDE_SOURCES = ("hotline_eval", "assets", "sensors", "scripts")


def _union_models() -> list[type]:
    union, _field = typing.get_args(Source)
    return list(typing.get_args(union))


def test_every_kind_of_the_union_has_a_connector() -> None:
    models = _union_models()
    kinds = {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in models}
    assert set(kinds) == set(CONNECTORS)
    for kind, model in kinds.items():
        entry = CONNECTORS[kind]
        assert entry.model is model and entry.kind == kind
        # a request feed fetches months, published statistics are read as tables: one or the other
        assert (entry.fetch_month is None) != (entry.fetch_stats is None), kind
        assert callable(entry.write_demo), kind
        assert entry.read_stamp is None or callable(entry.read_stamp), kind
        assert not entry.supports_incremental or entry.is_request_level, kind


def test_a_source_is_parsed_into_its_kinds_model_with_only_that_kinds_keys() -> None:
    common = {"id": "x", "base_url": "https://example.org", "docs_url": "https://example.org/d", "licence": "open"}
    source = parse_source({**common, "kind": "opendatasoft", "dataset": "dans-ma-rue"})
    assert type(source).__name__ == "OpendatasoftSource" and connector(source).kind == "opendatasoft"
    with pytest.raises(ValidationError, match="select"):  # a Socrata key on a CKAN source
        parse_source({**common, "kind": "ckan", "dataset": "d", "select": "all"})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parse_source({**common, "kind": "arcgis"})


def _kind_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing ``<something>.kind`` with ==, !=, in or not in, except a portal's kind (the
    variable is named ``portal``, or ``p`` in a comprehension over portals)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        ops_ok = any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops)
        for side in (node.left, *node.comparators):
            if (ops_ok and isinstance(side, ast.Attribute) and side.attr == "kind"
                    and not (isinstance(side.value, ast.Name) and side.value.id in ("portal", "p"))
                    and not (isinstance(side.value, ast.Name) and side.value.id == "self"
                             and _in_portal_model(tree, node))):
                lines.append(node.lineno)
    return lines


def _in_portal_model(tree: ast.AST, node: ast.AST) -> bool:
    """Whether ``node`` sits in the registry's ``Portal`` model (its kind is a portal kind)."""
    return any(isinstance(c, ast.ClassDef) and c.name == "Portal" and c.lineno <= node.lineno <= c.end_lineno
               for c in ast.walk(tree))


def test_no_code_outside_the_sources_package_branches_on_a_source_kind() -> None:
    found = []
    for folder in OUTSIDE_SOURCES:
        for path in sorted((PROJECT / folder).rglob("*.py")):
            if (PROJECT / "hotline_eval" / "sources") in path.parents:
                continue
            for line in _kind_comparisons(ast.parse(path.read_text(encoding="utf-8"))):
                found.append(f"{path.relative_to(PROJECT)}:{line}")
    assert found == []
