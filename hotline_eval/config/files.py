"""Reading versioned configuration files (YAML into its pydantic model, CSV into rows with their line
numbers), with errors for people: each names the file and where in it."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import yaml
from pydantic import BaseModel, ValidationError

from hotline_eval.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)
# libyaml's parser when PyYAML was built with it: the same safe loading, 8x faster (75 ms -> 9 ms) on the
# 45 KB registry that every run reads
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# (pydantic error location, the parsed document, the file's text) -> where, in words
Describe = Callable[[tuple[int | str, ...], Any, str], str]


def field_path(loc: tuple[int | str, ...], _raw: Any = None, _text: str = "") -> str:
    return f"field {'.'.join(str(p) for p in loc) or '(top level)'!r}"


def load_yaml_model(path: Path, model: type[Model], *, what: str, describe: Describe = field_path,
                    expect: str = "a mapping", context: Mapping[str, Any] | None = None) -> Model:
    """Read ``path`` and validate it as ``model`` (``context`` goes to its validators). Any problem raises
    ConfigError naming the file and, through ``describe``, where in it: a missing file, bad YAML, or every
    field pydantic rejects."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.load(text, Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected {expect}")
    try:
        return model.model_validate(raw, context=dict(context or {}))
    except ValidationError as exc:
        problems = [f"{describe(tuple(e['loc']), raw, text)}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid {what}:\n  " + "\n  ".join(problems)) from None


def read_config_csv(path: Path, columns: Sequence[str], *, what: str,
                    comment_prefix: str | None = None) -> tuple[pl.DataFrame, list[int]]:
    """Read a configuration CSV whose header is exactly ``columns``: its rows as a frame of text (an empty
    field is null) and the line each row starts on. Blank lines, and lines starting with
    ``comment_prefix`` when given, are skipped. A missing file, another header, a row with more or fewer
    fields than the header, or text that is not CSV raises ConfigError naming the file and the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None
    # a comment line becomes a blank one, so the reader's line count stays the file's
    lines = [("\n" if comment_prefix and line.startswith(comment_prefix) else line)
             for line in text.splitlines(keepends=True)]
    reader = csv.reader(lines, strict=True)
    try:
        rows, starts = _csv_rows(reader, path, columns)
    except csv.Error as exc:
        raise ConfigError(f"{path}, line {reader.line_num}: not valid CSV: {exc}") from None
    if rows is None:
        raise ConfigError(f"{path}: empty {what}; expected the header {','.join(columns)!r}")
    frame = pl.DataFrame(rows, schema={c: pl.String for c in columns}, orient="row")
    return frame, starts


def _csv_rows(reader: Any, path: Path, columns: Sequence[str]) -> tuple[list[list[str | None]] | None, list[int]]:
    """The records after the header (None when there is no header), each with the line it starts on;
    another header, or a record with more or fewer fields, raises ConfigError naming the line."""
    rows: list[list[str | None]] | None = None
    starts: list[int] = []
    end = 0  # the line the previous record ended on
    for record in reader:
        start, end = end + 1, reader.line_num
        if not record or record == [""]:
            continue
        if rows is None:
            if record != list(columns):
                raise ConfigError(f"{path}, line {start}: the header is {','.join(record)!r}, "
                                  f"expected {','.join(columns)!r}")
            rows = []
            continue
        if len(record) != len(columns):
            raise ConfigError(f"{path}, line {start}: {len(record)} fields where the header has "
                              f"{len(columns)} ({','.join(columns)})")
        rows.append([value if value != "" else None for value in record])
        starts.append(start)
    return rows, starts
