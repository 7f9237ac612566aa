"""Service directories -> ``staging.service_catalog`` rows.

Three shapes: Open311 GeoReport v2 ``services.json``/``.xml`` (``parse_open311_services``), data records
whose fields the registry names (``parse_directory_records``), or an HTML list described by CSS
selectors in ``config/portal_rules.yaml`` (``parse_html_catalogue``). Every parser fails with
``SourceFormatError`` naming what it looked for, never returns None silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from bs4 import Tag
from lxml import etree

from hotline_eval.config.registry import DirectoryRecords
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.encoding import decode_body
from hotline_eval.portals.rules import CatalogueSelectors
from hotline_eval.portals.text import normalize, parse_html

CATALOG_SCHEMA = {"city_id": pl.String, "service_code": pl.String, "name": pl.String, "group": pl.String,
                  "agency": pl.String, "keywords": pl.String, "sha256": pl.String}
HEADING_TAGS = ["h1", "h2", "h3", "h4"]


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = normalize(str(value))
    return text or None


def _keywords(value: Any) -> str | None:
    """'graffiti,private property, building' or ['a', 'b'] -> 'graffiti, private property, building'."""
    parts = value if isinstance(value, list) else str(value or "").split(",")
    words = [normalize(str(p)) for p in parts]
    return ", ".join(w for w in words if w) or None


def _catalog_frame(rows: list[dict[str, Any]], what: str) -> pl.DataFrame:
    if not rows:
        raise SourceFormatError(f"{what}: lists no services")
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA).unique(maintain_order=True)


# ------------------------------------------------------------------------------------- Open311 --
def _service_code(value: Any, where: str) -> str:
    """Open311 service_code as text: Toronto publishes "CSROWC-05" and 30102 in one list."""
    if isinstance(value, bool) or value is None:
        raise SourceFormatError(f"{where}: service_code is missing or not a code ({value!r})")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    code = str(value).strip()
    if not code:
        raise SourceFormatError(f"{where}: service_code is empty")
    return code


def _json_list(text: str, what: str, envelope: str, noun: str) -> list[Any]:
    """A JSON list, bare or at key ``envelope`` of the object wrapping it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{what}: {noun} are not valid JSON ({exc.msg} at {exc.pos})") from None
    if isinstance(data, dict) and isinstance(data.get(envelope), list):
        data = data[envelope]
    if not isinstance(data, list):
        raise SourceFormatError(f"{what}: expected a JSON list of {noun}, got {type(data).__name__}")
    return data


def _open311_json(text: str, what: str) -> list[dict[str, Any]]:
    data = _json_list(text, what, "services", "services")
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise SourceFormatError(f"{what}: service #{index} is a {type(entry).__name__}, not an object")
    return data


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _open311_xml(body: bytes, what: str) -> list[dict[str, Any]]:
    """``<services><service><service_code>001</service_code>...</service></services>``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body.lstrip(), parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SourceFormatError(f"{what}: services are not well-formed XML ({exc})") from None
    if _local(root.tag) != "services":
        raise SourceFormatError(f"{what}: expected a <services> root element, found <{_local(root.tag)}>")
    entries = []
    for service in root:
        if _local(service.tag) != "service":
            continue
        entries.append({_local(child.tag): (child.text or "").strip() for child in service if _local(child.tag)})
    return entries


def parse_open311_services(body: bytes, content_type: str | None, *, city_id: str, sha256: str) -> pl.DataFrame:
    """Open311 GeoReport v2 service list (``services.json`` or ``services.xml``) -> service_catalog rows.

    JSON: ``[{"service_code": "CSROWC-05", "service_name": "...", "group": "...", "keywords": "a, b",
    "metadata": true, "type": "batch", "description": "..."}]`` (also ``{"services": [...]}``);
    XML: ``<services><service>`` with the same child elements. The format comes from the content
    type, else from the first character. service_code is always text. ``agency`` is not in the
    spec; it is read from ``agency`` or ``agency_responsible`` where a server adds it.
    """
    what = f"{city_id} services ({sha256[:12]})"
    kind = (content_type or "").lower()
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in kind or ("xml" not in kind and stripped[:1] in (b"[", b"{")):
        entries = _open311_json(decode_body(body, content_type), what)
    elif "xml" in kind or stripped[:1] == b"<":
        entries = _open311_xml(stripped, what)
    else:
        raise SourceFormatError(f"{what}: neither JSON nor XML (content type {content_type!r})")
    rows = []
    for index, entry in enumerate(entries):
        name = _text_or_none(entry.get("service_name"))
        where = f"{what}: service #{index}" + (f" ({name})" if name else "")
        code = _service_code(entry.get("service_code"), where)
        if name is None:
            raise SourceFormatError(f"{where} (code {code}): service_name is missing")
        rows.append({"city_id": city_id, "service_code": code, "name": name,
                     "group": _text_or_none(entry.get("group")),
                     "agency": _text_or_none(entry.get("agency") or entry.get("agency_responsible")),
                     "keywords": _keywords(entry.get("keywords")), "sha256": sha256})
    return _catalog_frame(rows, what)


# -------------------------------------------------------------------------------- data records --
def _record_field(record: Mapping[str, Any], path: str | None) -> Any:
    """A field of a record; ``a.b`` reads key b of the object at a (``typology.visible_name``)."""
    value: Any = record
    for key in (path.split(".") if path else ()):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if path else None


def _joined(record: Mapping[str, Any], paths: Sequence[str]) -> str | None:
    parts = [t for t in (_text_or_none(_record_field(record, p)) for p in paths) if t]
    return " / ".join(parts) if parts else None


def parse_directory_records(body: bytes, content_type: str | None, *, city_id: str, sha256: str,
                            fields: DirectoryRecords) -> pl.DataFrame:
    """A service directory published as JSON data records -> service_catalog rows, by the fields the
    registry names (``a.b`` for a key inside an object). Accepts a list of objects (Socrata
    ``/resource/<id>.json``, an Opendatasoft ``/exports/json``, a request feed whose distinct services
    are the directory) or ``{"results": [...]}`` (Opendatasoft ``/records``). A record without a code
    raises SourceFormatError; a code listed twice (a directory row per agency or detail) is kept once,
    its first occurrence."""
    what = f"{city_id} directory records ({sha256[:12]})"
    data = _json_list(decode_body(body, content_type), what, "results", "records")
    rows, seen = [], set()
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise SourceFormatError(f"{what}: record #{index} is a {type(record).__name__}, not an object")
        code = _joined(record, fields.code)
        if code is None:
            raise SourceFormatError(f"{what}: record #{index} has no value in its code fields {fields.code}")
        if code in seen:
            continue
        seen.add(code)
        rows.append({"city_id": city_id, "service_code": code, "name": _joined(record, fields.name) or code,
                     "group": _text_or_none(_record_field(record, fields.group)),
                     "agency": _text_or_none(_record_field(record, fields.agency)),
                     "keywords": _keywords(_record_field(record, fields.keywords)),
                     "sha256": sha256})
    return _catalog_frame(rows, what)


# ------------------------------------------------------------------------------ HTML catalogue --
def _select_text(item: Tag, selector: str | None) -> str | None:
    if selector is None:
        return None
    element = item.select_one(selector)
    return _text_or_none(element.get_text(" ")) if element is not None else None


@dataclass(frozen=True)
class _ItemReader:
    """Reads one item of an HTML catalogue by the site's selectors."""

    selectors: CatalogueSelectors
    what: str
    code_regex: re.Pattern[str] | None

    def name(self, item: Tag) -> tuple[Tag | None, str | None]:
        """The element holding the service name (the item itself without a ``name`` selector), and the name."""
        element = item.select_one(self.selectors.name) if self.selectors.name else item
        return element, _text_or_none(element.get_text(" ")) if element is not None else None

    def _raw_code(self, item: Tag, name_element: Tag | None) -> str | None:
        element = item.select_one(self.selectors.code) if self.selectors.code else name_element
        raw = None
        if element is not None:
            raw = element.get(self.selectors.code_attr) if self.selectors.code_attr else element.get_text(" ")
        return " ".join(raw) if isinstance(raw, list) else raw

    def _no_code(self, index: int, name: str) -> SourceFormatError:
        selectors = self.selectors
        return SourceFormatError(
            f"{self.what}: item #{index} ({name}) has no code at {selectors.code or selectors.name or 'item'!r}"
            f"{'[' + selectors.code_attr + ']' if selectors.code_attr else ''}"
            f"{' matching ' + repr(selectors.code_pattern) if selectors.code_pattern else ''}"
        )

    def code(self, item: Tag, index: int, name_element: Tag | None, name: str) -> str:
        """The configured code (from an element, an attribute, a pattern's group), else the name."""
        if not (self.selectors.code or self.selectors.code_attr or self.code_regex):
            return name
        raw = self._raw_code(item, name_element)
        if self.code_regex:
            found = self.code_regex.search(raw) if raw else None
            code = found.group(1) if found else None
        else:
            code = _text_or_none(raw)
        if not code:
            raise self._no_code(index, name)
        return code

    def group(self, item: Tag) -> str | None:
        """The group by its selector, else (with ``group_heading``) the nearest heading before the item."""
        group = _select_text(item, self.selectors.group)
        if group is None and self.selectors.group_heading:
            heading = item.find_previous(HEADING_TAGS)
            group = _text_or_none(heading.get_text(" ")) if heading is not None else None
        return group


def parse_html_catalogue(html: str, *, city_id: str, sha256: str, selectors: CatalogueSelectors,
                         max_chars: int = 8_000_000) -> pl.DataFrame:
    """An HTML service directory -> service_catalog rows, by the site's configured selectors.

    For service.berlin.de's A-Z list::

        <div class="azlist"><h2>A</h2><ul class="list">
          <li><a href="/dienstleistung/120686/">Anmeldung einer Wohnung</a></li></ul></div>

    with ``item: "div.azlist ul.list li"``, ``code_attr: href``, ``code_pattern: "/dienstleistung/(\\d+)/"``,
    ``group_heading: true`` -> code 120686, group "A". A page without the item selector raises
    SourceFormatError naming it; so does an item whose configured code cannot be read.
    """
    what = f"{city_id} catalogue ({sha256[:12]})"
    soup = parse_html(html, max_chars, what)
    items = soup.select(selectors.item)
    if not items:
        raise SourceFormatError(f"{what}: catalogue selector {selectors.item!r} matches nothing on the page")
    reader = _ItemReader(selectors, what, re.compile(selectors.code_pattern) if selectors.code_pattern else None)
    rows = []
    for index, item in enumerate(items):
        name_element, name = reader.name(item)
        if name is None:
            continue  # a separator or letter heading inside the list, not a service
        rows.append({"city_id": city_id, "service_code": reader.code(item, index, name_element, name), "name": name,
                     "group": reader.group(item), "agency": _select_text(item, selectors.agency),
                     "keywords": _keywords(_select_text(item, selectors.keywords)), "sha256": sha256})
    if not rows:
        raise SourceFormatError(f"{what}: {len(items)} items match {selectors.item!r} but none has a name "
                                f"at {selectors.name!r}")
    return _catalog_frame(rows, what)
