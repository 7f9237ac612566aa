"""Column lineage of the table assets, where it is known (`dagster/column_lineage`): which upstream
columns each column is computed from. Keys are spelled out here rather than imported, so any asset module
can import this one. tests/test_ui_metadata.py checks every column named exists in its table."""

from __future__ import annotations

import dagster as dg

RAW_RECORDS = dg.AssetKey(["raw", "service_request_records"])
STAGED = dg.AssetKey(["staging", "service_requests"])
MAPPINGS = dg.AssetKey(["staging", "value_mappings"])
CITIES = dg.AssetKey(["staging", "cities"])
STATS = dg.AssetKey(["staging", "hotline_stats"])
FEATURES = dg.AssetKey(["staging", "portal_features"])
FACTS = dg.AssetKey(["marts", "indicator_facts"])
RANKING = dg.AssetKey(["marts", "city_ranking"])


def _deps(key: dg.AssetKey, *columns: str) -> list[dg.TableColumnDep]:
    return [dg.TableColumnDep(asset_key=key, column_name=c) for c in columns]


def _staged() -> dg.TableColumnLineage:
    same = ("city_id", "source_id", "request_id", "partition_month", "status_raw", "category_raw", "channel_raw",
            "is_synthetic", "sha256")
    parsed = {"created_at": "created_raw", "closed_at": "closed_raw", "agency": "agency_raw",
              "district": "district_raw", "latitude": "latitude_raw", "longitude": "longitude_raw",
              "resolution": "resolution_raw"}
    mapped = {c: [*_deps(RAW_RECORDS, f"{c}_raw"), *_deps(MAPPINGS, "raw_value", "mapped_value")]
              for c in ("status", "category", "channel")}
    return dg.TableColumnLineage(deps_by_column={
        **{c: _deps(RAW_RECORDS, c) for c in same}, **{c: _deps(RAW_RECORDS, r) for c, r in parsed.items()},
        **mapped})


def _facts() -> dg.TableColumnLineage:
    return dg.TableColumnLineage(deps_by_column={
        "is_synthetic": [*_deps(STAGED, "is_synthetic"), *_deps(STATS, "is_synthetic"),
                         *_deps(FEATURES, "is_synthetic")],
        "evidence_sha256s": [*_deps(STAGED, "sha256"), *_deps(STATS, "sha256"), *_deps(FEATURES, "sha256")],
    })


def _ranking() -> dg.TableColumnLineage:
    value = _deps(FACTS, "normalized_value")
    return dg.TableColumnLineage(deps_by_column={
        "city_name": _deps(CITIES, "city_name"),
        **{c: _deps(CITIES, c) for c in ("hotline_brand", "hotline_numbers", "hotline_type")},
        "score": value,
        **{f"{p}_score": value for p in ("process", "collaborative", "smart", "responsive")},
        **{c: value for c in ("rank", "rank_p05", "rank_median", "rank_p95")},
        "coverage": _deps(FACTS, "raw_value"),
        "curated_share": [*_deps(FACTS, "evidence_kind"), *value],
        "evidence_date": _deps(FACTS, "evidence_sha256s"),
        "is_synthetic": _deps(FACTS, "is_synthetic"),
    })


def _scores(*columns: str, coverage: bool = False) -> dg.TableColumnLineage:
    """A table computed from the facts' normalized values: ``columns`` from them, ``coverage`` (when it has
    one) from which values are present, is_synthetic from the facts'."""
    deps = {c: _deps(FACTS, "normalized_value") for c in columns}
    if coverage:
        deps["coverage"] = _deps(FACTS, "raw_value")
    return dg.TableColumnLineage(deps_by_column={**deps, "is_synthetic": _deps(FACTS, "is_synthetic")})


def column_lineage(key: dg.AssetKey) -> dg.TableColumnLineage | None:
    """The known column lineage of the table asset ``key``, None where none is recorded."""
    lineages = {
        STAGED: _staged,
        FACTS: _facts,
        RANKING: _ranking,
        dg.AssetKey(["marts", "primary_scores"]): lambda: _scores("score", coverage=True),
        dg.AssetKey(["marts", "secondary_scores"]): lambda: _scores("score", coverage=True),
        dg.AssetKey(["marts", "rank_sensitivity"]): lambda: _scores("rank", "rank_without", "rank_shift"),
        dg.AssetKey(["marts", "city_explanations"]): lambda: _scores("contribution"),
    }
    build = lineages.get(key)
    return build() if build else None
