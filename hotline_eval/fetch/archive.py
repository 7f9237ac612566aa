"""Content-addressed archive of HTTP responses, and replay from it.

Layout of an archive directory (the same for what live mode writes and what replay reads)::

    requests/<request_key>.json   one per request: url, params, status, headers, fetched_at, sha256
    bodies/<sha[:2]>/<sha256>     the exact response bytes, stored once however often they recur

Bodies live in files rather than in DuckDB so that the archive *is* the replay source (a user can
copy or ship a directory), bodies are stored once across runs, and the analyst database stays
small. Their metadata is loaded into ``raw.http_archive`` so every downstream row can be traced
to the bytes it came from by sha256.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import polars as pl

from hotline_eval.errors import ArchiveError, ReplayMissError, SourceFormatError
from hotline_eval.fetch.encoding import decode_body, detect_charset

# Response headers worth keeping: what tells us the format, the version and the freshness.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "last-modified",
    "etag",
    "date",
    "x-soda2-fields",
    "x-soda2-types",
    "x-soda2-truth-last-modified",
)


def canonical_url(url: str, params: dict[str, Any] | None = None) -> str:
    """URL with the query merged from ``params`` and sorted, so equal requests get equal keys."""
    parts = urlsplit(url)
    query: list[tuple[str, str]] = []
    if parts.query:
        for pair in parts.query.split("&"):
            name, _, value = pair.partition("=")
            query.append((name, value))
    encoded = urlencode(sorted((str(k), str(v)) for k, v in (params or {}).items()))
    existing = "&".join(f"{k}={v}" for k, v in sorted(query))
    full_query = "&".join(q for q in (existing, encoded) if q)
    netloc = (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", full_query, ""))


def request_key(method: str, url: str, params: dict[str, Any] | None = None) -> str:
    """Stable key of a request: sha256 of 'METHOD canonical-url'. Secrets never enter it."""
    return _key(method, canonical_url(url, params))


def _key(method: str, canonical: str) -> str:
    return hashlib.sha256(f"{method.upper()} {canonical}".encode()).hexdigest()


def sha256_bytes(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class ArchivedResponse:
    """A response as archived: its request, status, kept headers, bytes and where they came from."""

    request_key: str
    method: str
    url: str  # canonical URL with query, no secrets
    status: int
    headers: dict[str, str]
    fetched_at: str  # ISO 8601, UTC
    sha256: str
    body: bytes = field(repr=False)
    is_synthetic: bool = False
    note: str = ""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def text(self) -> str:
        return decode_body(self.body, self.content_type)

    @property
    def is_utf8(self) -> bool:
        """A UTF-8 body without a byte order mark: JSON readers can parse its bytes as they are."""
        return detect_charset(self.body, self.content_type) == "utf-8" and not self.body.startswith(codecs.BOM_UTF8)

    def json(self) -> Any:
        # UTF-8 bodies (most feeds) are parsed from the bytes: decoding a page to text first costs
        # as much again as parsing it; other charsets are decoded first
        try:
            return json.loads(self.body if self.is_utf8 else self.text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            detail = f"{exc.msg} at {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise SourceFormatError(f"{self.url}: response is not JSON ({detail})") from None
        except RecursionError:
            raise SourceFormatError(f"{self.url}: response JSON is nested too deeply to read") from None

    def metadata(self) -> dict[str, Any]:
        meta = asdict(self)
        del meta["body"]
        meta["size_bytes"] = len(self.body)
        return meta


def _holds(path: Path, sha256: str) -> bool:
    """Whether ``path`` exists and its bytes hash to ``sha256``."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
    except FileNotFoundError:
        return False


# what an archive entry must carry for replay to rebuild the response from it
_ENTRY_FIELDS = ("method", "url", "status", "fetched_at", "sha256")


def _read_entry(path: Path) -> dict[str, Any]:
    """The metadata of one archive entry; a truncated or edited file is named in an ArchiveError."""
    try:
        meta = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = f"{exc.msg} at {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise ArchiveError(f"archive entry {path} is corrupt (not JSON: {detail}); restore it from a copy of "
                           "the archive or fetch the request again in live mode") from None
    missing = [name for name in _ENTRY_FIELDS if not isinstance(meta, dict) or name not in meta]
    if missing:
        raise ArchiveError(f"archive entry {path} is corrupt (no {', '.join(missing)}); restore it from a copy "
                           "of the archive or fetch the request again in live mode")
    return meta


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Archive:
    """One archive directory: store responses (live mode) and look them up (replay mode)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def body_path(self, sha256: str) -> Path:
        return self.root / "bodies" / sha256[:2] / sha256

    def entry_path(self, key: str) -> Path:
        return self.root / "requests" / f"{key}.json"

    def store(self, response: ArchivedResponse) -> None:
        body_path = self.body_path(response.sha256)
        entry_path = self.entry_path(response.request_key)
        entry = json.dumps(response.metadata(), indent=1, sort_keys=True, ensure_ascii=False)
        try:
            # stored once, but checked: a body file edited or cut short since is replaced by the right bytes
            if not _holds(body_path, response.sha256):
                _atomic_write(body_path, response.body)
            _atomic_write(entry_path, entry.encode())
        except OSError as exc:  # a full disk above all: named, and not worth retrying
            raise ArchiveError(f"archiving {response.method} {response.url} in {self.root} failed: {exc}") from exc

    def load(self, method: str, url: str, params: dict[str, Any] | None = None) -> ArchivedResponse:
        key = request_key(method, url, params)
        path = self.entry_path(key)
        if not path.exists():
            raise ReplayMissError(
                f"replay: no archived response for {method.upper()} {canonical_url(url, params)} "
                f"(request key {key[:12]}…) in {self.root}"
            )
        meta = _read_entry(path)
        body_path = self.body_path(meta["sha256"])
        try:
            body = body_path.read_bytes()
        except FileNotFoundError:
            raise ReplayMissError(f"replay: archive entry {path.name} names body {meta['sha256']} "
                                  f"but {body_path} is missing") from None
        if sha256_bytes(body) != meta["sha256"]:
            raise ArchiveError(f"replay: body {body_path} (of archive entry {path.name}) does not match its sha256; "
                               "the archive is corrupt")
        try:
            status = int(meta["status"])
        except (TypeError, ValueError):
            raise ArchiveError(f"archive entry {path} is corrupt (status {meta['status']!r})") from None
        return ArchivedResponse(
            request_key=key,
            method=meta["method"],
            url=meta["url"],
            status=status,
            headers=dict(meta.get("headers") or {}),
            fetched_at=meta["fetched_at"],
            sha256=meta["sha256"],
            body=body,
            is_synthetic=bool(meta.get("is_synthetic", False)),
            note=meta.get("note", ""),
        )

    def entries(self) -> list[dict[str, Any]]:
        """Metadata of every archived request, for loading into raw.http_archive."""
        folder = self.root / "requests"
        if not folder.exists():
            return []
        return [_read_entry(p) for p in sorted(folder.glob("*.json"))]


def make_response(
    method: str,
    url: str,
    params: dict[str, Any] | None,
    status: int,
    headers: dict[str, str],
    body: bytes,
    *,
    is_synthetic: bool = False,
    note: str = "",
    fetched_at: datetime | None = None,
) -> ArchivedResponse:
    kept = {k.lower(): v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    canonical = canonical_url(url, params)  # once: a page's query is long, and it is encoded for both
    return ArchivedResponse(
        request_key=_key(method, canonical),
        method=method.upper(),
        url=canonical,
        status=status,
        headers=kept,
        fetched_at=(fetched_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        sha256=sha256_bytes(body),
        body=body,
        is_synthetic=is_synthetic,
        note=note,
    )


def archive_rows(responses: list[ArchivedResponse], *, source_id: str, archive_dir: str,
                  partition_key: str | None) -> pl.DataFrame:
    """raw.http_archive rows for the responses a step used."""
    return pl.DataFrame(
        {
            "request_key": [r.request_key for r in responses],
            "source_id": [source_id] * len(responses),
            "method": [r.method for r in responses],
            "url": [r.url for r in responses],
            "status": [r.status for r in responses],
            "content_type": [r.content_type for r in responses],
            "headers": [json.dumps(r.headers, sort_keys=True) for r in responses],
            "fetched_at": [r.fetched_at for r in responses],
            "sha256": [r.sha256 for r in responses],
            "size_bytes": [len(r.body) for r in responses],
            "is_synthetic": [r.is_synthetic for r in responses],
            "archive_dir": [archive_dir] * len(responses),
            "note": [r.note for r in responses],
            "partition_key": [partition_key] * len(responses),
        },
        schema={
            "request_key": pl.String, "source_id": pl.String, "method": pl.String, "url": pl.String,
            "status": pl.Int32, "content_type": pl.String, "headers": pl.String, "fetched_at": pl.String,
            "sha256": pl.String, "size_bytes": pl.Int64, "is_synthetic": pl.Boolean, "archive_dir": pl.String,
            "note": pl.String, "partition_key": pl.String,
        },
    ).with_columns(pl.col("fetched_at").str.to_datetime(time_zone="UTC"))
