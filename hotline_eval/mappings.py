"""Versioned value mappings (config/mappings/*.csv): published status, channel and category values
to the common vocabulary. Matching is case-insensitive after trimming; a row for a specific
source wins over a ``*`` row."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from hotline_eval.errors import ConfigError
from hotline_eval.settings import PROJECT_ROOT

MAPPINGS_DIR = PROJECT_ROOT / "config" / "mappings"

STATUSES = ("open", "closed", "cancelled", "other")
CHANNELS = ("phone", "web", "mobile_app", "sms", "email", "social", "walk_in", "chatbot", "other", "unknown")
# what a value the mapping does not know becomes; it is also counted as unmapped
UNMAPPED = {"status": "other", "channel": "unknown", "category": "unmapped"}


def _read_csv(path: Path, columns: list[str]) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, schema={c: pl.String for c in columns}, comment_prefix="#")
    except FileNotFoundError:
        raise ConfigError(f"{path}: mapping file not found") from None
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError) as exc:
        raise ConfigError(f"{path}: not a CSV with columns {columns}: {exc}") from None
    return frame


def load_categories(folder: Path = MAPPINGS_DIR) -> pl.DataFrame:
    return _read_csv(folder / "categories.csv", ["category", "description"])


def load_mappings(folder: Path = MAPPINGS_DIR) -> pl.DataFrame:
    """All mappings in one frame: mapping, source_id, raw_value (normalized), mapped_value, mapping_file."""
    allowed = {
        "status": set(STATUSES),
        "channel": set(CHANNELS),
        "category": set(load_categories(folder)["category"].to_list()) - {"unmapped"},
    }
    frames = []
    for mapping, values in allowed.items():
        path = folder / f"{mapping}.csv"
        frame = _read_csv(path, ["source_id", "raw_value", "mapped_value"])
        for line, row in enumerate(frame.iter_rows(named=True), start=2):
            if not row["source_id"] or not row["raw_value"] or row["mapped_value"] not in values:
                raise ConfigError(
                    f"{path}, line {line}: mapped_value {row['mapped_value']!r} is not one of {sorted(values)} "
                    f"(or source_id/raw_value is empty)"
                )
        frame = frame.with_columns(
            mapping=pl.lit(mapping),
            raw_value=pl.col("raw_value").str.strip_chars().str.to_lowercase(),
            mapping_file=pl.lit(str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT)
                                else str(path)),
        )
        dupes = frame.filter(pl.struct("source_id", "raw_value").is_duplicated())
        if dupes.height:
            raise ConfigError(f"{path}: values mapped twice: {dupes['raw_value'].unique().to_list()}")
        frames.append(frame)
    return pl.concat(frames).select("mapping", "source_id", "raw_value", "mapped_value", "mapping_file")


def apply_mapping(frame: pl.DataFrame, mappings: pl.DataFrame, mapping: str, raw_column: str,
                  out_column: str) -> pl.DataFrame:
    """Add ``out_column`` and a boolean ``<out_column>_unmapped`` (raw value present but unknown)."""
    table = mappings.filter(pl.col("mapping") == mapping)
    key = pl.col(raw_column).str.strip_chars().str.to_lowercase()
    specific = table.filter(pl.col("source_id") != "*").select(
        "source_id", pl.col("raw_value").alias("_key"), pl.col("mapped_value").alias("_specific"))
    generic = table.filter(pl.col("source_id") == "*").select(
        pl.col("raw_value").alias("_key"), pl.col("mapped_value").alias("_generic"))
    joined = (
        frame.with_columns(key.alias("_key"))
        .join(specific, on=["source_id", "_key"], how="left")
        .join(generic, on="_key", how="left")
    )
    mapped = pl.coalesce("_specific", "_generic")
    present = pl.col("_key").is_not_null() & (pl.col("_key") != "")
    return joined.with_columns(
        mapped.fill_null(UNMAPPED[mapping]).alias(out_column),
        (present & mapped.is_null()).alias(f"{out_column}_unmapped"),
    ).drop("_key", "_specific", "_generic")
