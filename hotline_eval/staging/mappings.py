"""Versioned value mappings (config/mappings/*.csv): published status, channel and category values
to the common vocabulary. Matching is case-insensitive after trimming; a row for a specific
source wins over a ``*`` row. Every row is checked at load (a source the registry knows, a value of
the vocabulary, no value mapped twice), a bad one named by its file and line."""

from __future__ import annotations

import weakref
from collections.abc import Collection, Sequence
from pathlib import Path

import polars as pl

from hotline_eval.config.files import read_config_csv
from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.errors import ConfigError

MAPPINGS_DIR = PROJECT_ROOT / "config" / "mappings"

STATUSES = ("open", "closed", "cancelled", "other")
CHANNELS = ("phone", "web", "mobile_app", "sms", "email", "social", "walk_in", "chatbot", "other", "unknown")
# what a value the mapping does not know becomes; it is also counted as unmapped
UNMAPPED = {"status": "other", "channel": "unknown", "category": "unmapped"}


def _read_csv(path: Path, columns: list[str]) -> tuple[pl.DataFrame, list[int]]:
    return read_config_csv(path, columns, what="mapping file", comment_prefix="#")


def load_categories(folder: Path = MAPPINGS_DIR) -> pl.DataFrame:
    path = folder / "categories.csv"
    frame, lines = _read_csv(path, ["category", "description"])
    seen: set[str] = set()
    for line, category in zip(lines, frame["category"].to_list(), strict=True):
        if not category:
            raise ConfigError(f"{path}, line {line}: empty category")
        if category in seen:
            raise ConfigError(f"{path}, line {line}: category {category!r} listed twice")
        seen.add(category)
    return frame


def registered_source_ids() -> frozenset[str]:
    """The ids of the registry's sources ($HOTLINE_EVAL_CITIES or config/cities/): what a mapping
    row may name besides ``*``."""
    return frozenset(source.id for _, source in load_registry().sources())


def load_mappings(folder: Path = MAPPINGS_DIR, source_ids: Collection[str] | None = None) -> pl.DataFrame:
    """All mappings in one frame: mapping, source_id, raw_value (normalized), mapped_value, mapping_file.
    A row's source_id is ``*`` or one of ``source_ids`` (default: the registry's sources)."""
    known_sources = frozenset(registered_source_ids() if source_ids is None else source_ids)
    allowed = {
        "status": set(STATUSES),
        "channel": set(CHANNELS),
        "category": set(load_categories(folder)["category"].to_list()) - {"unmapped"},
    }
    frames = []
    for mapping, values in allowed.items():
        path = folder / f"{mapping}.csv"
        frame, lines = _read_csv(path, ["source_id", "raw_value", "mapped_value"])
        first_line: dict[tuple[str, str], int] = {}
        for line, row in zip(lines, frame.iter_rows(named=True), strict=True):
            if not row["source_id"] or not (row["raw_value"] or "").strip():
                raise ConfigError(f"{path}, line {line}: source_id and raw_value must not be empty")
            if row["source_id"] != "*" and row["source_id"] not in known_sources:
                raise ConfigError(f"{path}, line {line}: source_id {row['source_id']!r} is not a source of the "
                                  f"registry (nor '*'); known: {sorted(known_sources)}")
            if row["mapped_value"] not in values:
                raise ConfigError(
                    f"{path}, line {line}: mapped_value {row['mapped_value']!r} is not one of {sorted(values)}")
            key = (row["source_id"], row["raw_value"].strip().lower())
            if key in first_line:
                raise ConfigError(f"{path}, line {line}: {row['raw_value']!r} of source {row['source_id']!r} is "
                                  f"mapped already on line {first_line[key]}")
            first_line[key] = line
        frame = frame.with_columns(
            mapping=pl.lit(mapping),
            raw_value=pl.col("raw_value").str.strip_chars().str.to_lowercase(),
            mapping_file=pl.lit(str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT)
                                else str(path)),
        )
        frames.append(frame)
    return pl.concat(frames).select("mapping", "source_id", "raw_value", "mapped_value", "mapping_file")


def apply_mappings(frame: pl.DataFrame, mappings: pl.DataFrame,
                   columns: Sequence[tuple[str, str, str]]) -> pl.DataFrame:
    """For each (mapping, raw column, out column): add ``out_column`` (the mapped value, or the mapping's
    UNMAPPED value) and a boolean ``<out_column>_unmapped`` (raw value present but unknown). Values
    match trimmed and case-insensitively; a source's own mapping of a value wins over the generic one."""
    sources = frame["source_id"].unique().sort().to_list() if frame.height else []
    if len(sources) != 1:
        return _apply_to_rows(frame, mappings, columns, sources)
    # one source (a partition): each distinct value is mapped once, by this call or an earlier one with
    # the same mappings (a feed has dozens of distinct values in a million rows), and every row takes its
    # value's result; trimming and lowercasing every row cost more than the rest of the mapping
    distinct = frame.select(pl.col(raw).unique().drop_nulls().implode() for _, raw, _ in columns).row(0)
    exprs = []
    for (mapping, raw_column, out_column), values in zip(columns, distinct, strict=True):
        results = _results_by_value(mappings, mapping, sources[0], values)
        mapped = pl.Series([results[v][0] for v in values], dtype=pl.String)
        unmapped = pl.Series([v for v in values if results[v][1]], dtype=pl.String)
        exprs += [
            pl.col(raw_column).replace_strict(pl.Series(values, dtype=pl.String), mapped, default=None)
            .fill_null(UNMAPPED[mapping]).alias(out_column),
            pl.col(raw_column).is_in(unmapped.implode()).fill_null(False).alias(f"{out_column}_unmapped"),
        ]
    return frame.with_columns(exprs)


def _results_by_value(mappings: pl.DataFrame, mapping: str, source: str, values: list[str]
                      ) -> dict[str, tuple[str, bool]]:
    """(mapped value, unmapped?) of each raw value of ``source``, as ``_apply_to_rows`` gives them; kept
    per mappings frame, so each value is looked up once."""
    results = _prepared(mappings)[1].setdefault((mapping, source), {})
    new = [v for v in values if v not in results]
    if new:
        done = _apply_to_rows(pl.DataFrame({"source_id": source, "value": new}), mappings,
                              [(mapping, "value", "out")], [source])
        results.update(zip(new, zip(done["out"].to_list(), done["out_unmapped"].to_list(), strict=True),
                           strict=True))
    return results


def _apply_to_rows(frame: pl.DataFrame, mappings: pl.DataFrame, columns: Sequence[tuple[str, str, str]],
                   sources: list[str]) -> pl.DataFrame:
    """``apply_mappings`` row by row (column-wise): every row's value trimmed, lowercased, looked up."""
    keys = {raw_column: f"_{raw_column}_key" for _, raw_column, _ in columns}
    mapped = {out_column: f"_{out_column}_mapped" for _, _, out_column in columns}
    return (
        frame.with_columns(pl.col(raw).str.strip_chars().str.to_lowercase().alias(key) for raw, key in keys.items())
        .with_columns(_lookup(mappings, mapping, keys[raw_column], sources).alias(mapped[out_column])
                      for mapping, raw_column, out_column in columns)
        .with_columns(
            expr
            for mapping, raw_column, out_column in columns
            for expr in (
                pl.col(mapped[out_column]).fill_null(UNMAPPED[mapping]).alias(out_column),
                (pl.col(keys[raw_column]).is_not_null() & (pl.col(keys[raw_column]) != "")
                 & pl.col(mapped[out_column]).is_null()).alias(f"{out_column}_unmapped"),
            )
        )
        .drop(*keys.values(), *mapped.values())
    )


# per mappings frame (staging calls apply_mappings once per partition with the same frame): the lookup
# tables per (mapping, source), and the results per raw value found so far (``_results_by_value``); keyed
# by id, valid while that very frame is alive (the weak reference still points to it). Mapping frames
# are loaded, never modified in place.
_Tables = dict[tuple[str, str], tuple[pl.Series, pl.Series]]
_Results = dict[tuple[str, str], dict[str, tuple[str, bool]]]
_PREPARED: dict[int, tuple[weakref.ref, tuple[_Tables, _Results]]] = {}


def _prepared(mappings: pl.DataFrame) -> tuple[_Tables, _Results]:
    entry = _PREPARED.get(id(mappings))
    if entry is not None and entry[0]() is mappings:
        return entry[1]
    tables = {key: (frame["raw_value"], frame["mapped_value"]) for key, frame in mappings.partition_by(
        "mapping", "source_id", as_dict=True, include_key=False).items()}
    for stale in [k for k, (ref, _) in _PREPARED.items() if ref() is None]:
        del _PREPARED[stale]
    prepared: tuple[_Tables, _Results] = (tables, {})
    _PREPARED[id(mappings)] = (weakref.ref(mappings), prepared)
    return prepared


def _lookup(mappings: pl.DataFrame, mapping: str, key: str, sources: list[str]) -> pl.Expr:
    """The mapped value of each row's key (null when unknown), looked up by hash, per source."""
    tables = _prepared(mappings)[0]
    empty = (pl.Series(dtype=pl.String), pl.Series(dtype=pl.String))
    generic = tables.get((mapping, "*"), empty)
    per_source = []
    for source in sources:
        specific = tables.get((mapping, source), empty)
        if specific[0].len():
            keep = ~generic[0].is_in(specific[0].implode())
            old = pl.concat([generic[0].filter(keep), specific[0]])
            new = pl.concat([generic[1].filter(keep), specific[1]])
        else:
            old, new = generic
        per_source.append((source, pl.col(key).replace_strict(old, new, default=None, return_dtype=pl.String)))
    if not per_source:
        return pl.lit(None, pl.String)
    if len(per_source) == 1:
        return per_source[0][1]
    chain = pl.when(pl.col("source_id") == per_source[0][0]).then(per_source[0][1])
    for source, lookup in per_source[1:]:
        chain = chain.when(pl.col("source_id") == source).then(lookup)
    return chain.otherwise(None)
