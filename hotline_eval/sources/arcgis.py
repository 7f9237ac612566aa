"""ArcGIS REST feature layers and tables: ``<service>/FeatureServer/<layer>/query`` (or a MapServer layer),
the way many cities publish (ArcGIS Online hosted layers, ArcGIS Hub items, ArcGIS Enterprise).

Docs: https://developers.arcgis.com/rest/services-reference/enterprise/query-feature-service-layer/ .
A month is one ``where`` on the creation field, ``outFields`` (the mapped fields and the ordering one),
``orderByFields`` (a field that orders records uniquely, the layer's object id field, for stable paging),
``resultOffset`` / ``resultRecordCount`` paging until ``exceededTransferLimit`` is false or absent, and
``f=json`` (Esri JSON: ``{"features": [{"attributes": {...}}], "exceededTransferLimit": true, "fields": [...]}``).
A server may cap a page below ``resultRecordCount`` (its ``maxRecordCount``): the next offset is what came.

- Errors: ArcGIS answers many failures with HTTP 200 and ``{"error": {"code", "message", "details"}}``;
  that fails naming the code and message (a 5xx code is retried, as a 5xx status is).
- Dates (``esriFieldTypeDate``) are epoch milliseconds in UTC, as hosted layers store them. The ``where``
  compares them with ``TIMESTAMP 'YYYY-MM-DD HH:MI:SS'`` literals (standardized SQL) in UTC: the UTC
  instants where the city's local month starts and ends. The raw rows get them as ISO 8601 local times
  with the city's offset (``2024-10-01T00:00:00.000+02:00``), the same instant, which staging reads.
- Coordinates: only from the feature's geometry, asked for in WGS 84 (``returnGeometry=true&outSR=4326``)
  when the mapping reads ``geometry.y`` / ``geometry.x``. A table has no geometry; x/y attributes in a
  projected system are not latitude/longitude and are better left unmapped (the server reprojects only
  geometries).

Whatever the server answers, only records created in the partition's local month are kept (the others
counted in ``RawBatch.dropped_outside_month``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import Field, field_validator, model_validator

from hotline_eval.errors import FetchError, HotlineEvalError, SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.common import body_shape, dig
from hotline_eval.sources.demo import FETCHED_AT, DemoFeed, Invented, as_json, store, to_record
from hotline_eval.sources.drift import top_level
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw
from hotline_eval.staging.timeparse import local_month, month_bounds_utc

MAX_PAGES = 10_000
GEOMETRY = "geometry"  # the feature's geometry, read by the specs geometry.x and geometry.y
# the raw columns holding published times (epoch milliseconds in Esri JSON)
TIME_COLUMNS = ("created_raw", "closed_raw", "updated_raw", "source_updated_at")
EPOCH_MS = r"^\s*(-?\d{1,15})(?:\.0*)?\s*$"
# epoch milliseconds of 9999-12-31: beyond it a value is no date we can write
MAX_EPOCH_MS = 253_402_300_799_999


class ArcgisQueryError(SourceFormatError):
    """An ArcGIS ``error`` object in a 200 response whose code says the query is wrong (not retried)."""


class ArcgisServerError(FetchError):
    """An ArcGIS ``error`` object with a 5xx (or 408/429) code: a server-side failure, worth retrying."""


class ArcgisFeatureServerSource(SourceBase):
    """One layer or table of an ArcGIS REST service: ``{base_url}/{service}/{layer}``."""

    kind: Literal["arcgis_featureserver"] = "arcgis_featureserver"
    # the service's path under base_url, ending in FeatureServer (or MapServer)
    service: str = Field(min_length=1)
    layer: int = Field(default=0, ge=0)
    # a field ordering records uniquely (the layer's object id field); default: the request id field
    order_by: str | None = None
    page_size: int = Field(default=2000, ge=1, le=50_000)  # resultRecordCount; the server may cap it
    # an extra condition ANDed with the month window (standardized SQL)
    where: str | None = None

    @field_validator("service")
    @classmethod
    def _service_path(cls, value: str) -> str:
        path = value.strip("/")
        if not re.search(r"(^|/)(FeatureServer|MapServer)$", path, re.IGNORECASE):
            raise ValueError(f"service {value!r} should be the path ending in /FeatureServer (or /MapServer), "
                             "e.g. <org>/arcgis/rest/services/<name>/FeatureServer")
        return path

    @model_validator(mode="after")
    def _mapped(self) -> ArcgisFeatureServerSource:
        for name in ("request_id", "created_at"):
            spec = self.fields.get(name, "")
            if not spec or not re.fullmatch(r"\w+", spec):
                raise ValueError(f"fields.{name} must name one attribute of the layer (got {spec!r})")
        return self


def layer_url(source: ArcgisFeatureServerSource) -> str:
    return f"{source.base_url.rstrip('/')}/{source.service}/{source.layer}"


def query_url(source: ArcgisFeatureServerSource) -> str:
    return f"{layer_url(source)}/query"


def wants_geometry(source: ArcgisFeatureServerSource) -> bool:
    return any(part == GEOMETRY for spec in source.fields.values() for part in top_level(spec))


def order_field(source: ArcgisFeatureServerSource) -> str:
    return source.order_by or source.fields["request_id"]


def out_fields(source: ArcgisFeatureServerSource) -> list[str]:
    """The attributes asked for: every one the mapping reads, and the ordering field."""
    names = {part for spec in source.fields.values() for part in top_level(spec)} - {GEOMETRY}
    return sorted(names | {order_field(source)})


def month_where(source: ArcgisFeatureServerSource, month: str, timezone: str) -> str:
    """The creation field within the city's local ``month`` (half-open), as UTC ``TIMESTAMP`` literals."""
    start, end = month_bounds_utc(month, timezone)
    created = source.fields["created_at"]
    window = (f"{created} >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' "
              f"AND {created} < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'")
    return f"({window}) AND ({source.where})" if source.where else window


def page_params(source: ArcgisFeatureServerSource, where: str, offset: int) -> dict[str, str | int]:
    params: dict[str, str | int] = {
        "where": where, "outFields": ",".join(out_fields(source)), "orderByFields": order_field(source),
        "returnGeometry": "true" if wants_geometry(source) else "false",
        "resultOffset": offset, "resultRecordCount": source.page_size, "f": "json"}
    if wants_geometry(source):
        params["outSR"] = 4326
    return params


def _body(response: ArchivedResponse) -> Any:
    """The JSON body; an ArcGIS ``error`` object in it fails, naming its code and message."""
    try:
        body = response.json()
    except SourceFormatError as exc:
        start = response.body[:120].decode("utf-8", "replace")
        raise SourceFormatError(f"{exc}; asked for ArcGIS JSON (f=json), got Content-Type "
                                f"{response.content_type or 'none'} beginning {start!r}") from None
    if isinstance(body, dict) and "error" in body:
        raise service_error(response.url, body["error"])
    return body


def service_error(url: str, error: Any) -> HotlineEvalError:
    """The error for an ArcGIS ``{"error": {"code", "message", "details"}}`` object."""
    code, message, details = (error.get("code"), error.get("message"), error.get("details")) \
        if isinstance(error, dict) else (None, error, None)
    text = f"{url}: ArcGIS answered with an error object: code {code}, message {message!r}"
    if details:
        text += f", details {details!r}"
    if isinstance(code, int) and (code >= 500 or code in (408, 429)):
        return ArcgisServerError(text + " (a server-side failure)")
    return ArcgisQueryError(text)


def query_result(response: ArchivedResponse) -> tuple[list[Any], bool]:
    """A query page's features and whether the server has more (``exceededTransferLimit``; absent: no)."""
    body = _body(response)
    features = body.get("features") if isinstance(body, dict) else None
    if not isinstance(features, list):
        got = body_shape(body)
        if isinstance(body, dict) and "features" in body:
            got += f" (features is {body_shape(features)})"
        raise SourceFormatError(f"{response.url}: expected an ArcGIS query result "
                                f"({{\"features\": [...], ...}}), got {got}")
    more = body.get("exceededTransferLimit", False)
    if not isinstance(more, bool):
        raise SourceFormatError(f"{response.url}: exceededTransferLimit is {more!r}, not true or false")
    return features, more


def _record(feature: Any, geometry: bool) -> Any:
    """A feature's attributes (and its geometry when asked for); anything else as it is, to be rejected."""
    if not isinstance(feature, dict) or not isinstance(feature.get("attributes"), dict):
        return feature
    return {**feature["attributes"], GEOMETRY: feature.get(GEOMETRY)} if geometry else feature["attributes"]


def query_pages(client: HttpClient, source: ArcgisFeatureServerSource, where: str) -> Iterator[Page]:
    """The query's pages, in turn, until one says there is no more. A server that keeps saying there is
    more while it sends nothing, or the page before again (it ignores ``resultOffset``), is an error."""
    geometry = wants_geometry(source)
    offset, previous = 0, None
    for number in range(MAX_PAGES):
        response = client.get(query_url(source), page_params(source, where, offset))
        features, more = query_result(response)
        if features and features == previous:
            raise SourceFormatError(
                f"{response.url}: page {number + 1} repeats page {number} (the server ignores resultOffset); "
                f"{source.id} cannot be paged past {offset} records")
        if more and not features:
            raise SourceFormatError(f"{response.url}: exceededTransferLimit is true on an empty page; "
                                    f"{source.id} cannot be paged past {offset} records")
        yield Page(number=number, response=response, records=[_record(f, geometry) for f in features])
        if not more:
            return
        offset += len(features)
        previous = features
    raise SourceFormatError(f"{source.id}: more than {MAX_PAGES} pages for {where}")


def epoch_ms_to_local(column: str, timezone: str) -> pl.Expr:
    """Epoch milliseconds (as text) to the local time they are, with its offset; other text as it is."""
    text = pl.col(column)
    ms = text.str.extract(EPOCH_MS, 1).cast(pl.Int64, strict=False)
    ms = pl.when(ms.abs() <= MAX_EPOCH_MS).then(ms)
    local = pl.from_epoch(ms, time_unit="ms").dt.replace_time_zone("UTC").dt.convert_time_zone(timezone)
    return pl.when(ms.is_not_null()).then(local.dt.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")).otherwise(text).alias(column)


def fetch_month(client: HttpClient, source: ArcgisFeatureServerSource, city_id: str, month: str, *,
                timezone: str, app_token: str | None = None) -> RawBatch:
    """The records created in ``month`` (local time), whatever the server answered."""
    del app_token  # public layers need no token
    pages = list(query_pages(client, source, month_where(source, month, timezone)))
    # epoch milliseconds of 2001-2286 have 13 digits: as text they order as the times do (newest version)
    batch = records_to_raw(pages, source.fields, city_id=city_id, source_id=source.id, partition_month=month,
                           updated_system_field=source.fields.get("updated_at"))
    batch.rows = batch.rows.with_columns(epoch_ms_to_local(column, timezone) for column in TIME_COLUMNS)
    in_month = local_month(batch.rows["created_raw"], timezone, source.datetime_formats)
    kept = batch.rows.filter((in_month == month) | in_month.is_null())
    batch.dropped_outside_month = batch.rows.height - kept.height
    batch.rows = kept
    return batch


def read_stamp(client: HttpClient, source: ArcgisFeatureServerSource) -> tuple[ArchivedResponse, object]:
    """When the layer was last edited: ``editingInfo.lastEditDate`` (epoch ms) in the layer's JSON."""
    response = client.get(layer_url(source), {"f": "json"})
    return response, dig(_body(response), "editingInfo", "lastEditDate")


# --- the demo archive -------------------------------------------------------------------------------------


def _epoch_ms(local: datetime, zone: ZoneInfo) -> int:
    return int(local.replace(tzinfo=zone).timestamp() * 1000)


def demo_feature(item: Invented, source: ArcgisFeatureServerSource, demo: DemoFeed, object_id: int) -> dict:
    """An invented request as an Esri JSON feature: dates in epoch milliseconds, numbers as numbers."""
    assert demo.vocabulary is not None
    zone = ZoneInfo(demo.city.timezone)
    attributes = to_record(item, source, demo.vocabulary, None, numbers=True)
    attributes[order_field(source)] = object_id
    attributes[source.fields["request_id"]] = 1_000_000_000 + object_id
    last_change = max(item.created, item.closed or item.created) + timedelta(minutes=7)
    for name, value in (("created_at", item.created), ("closed_at", item.closed), ("updated_at", last_change)):
        if name in source.fields and value is not None:
            attributes[source.fields[name]] = _epoch_ms(value, zone)
    geometry = attributes.pop(GEOMETRY, None)
    if wants_geometry(source):
        return {"attributes": attributes, GEOMETRY: geometry}
    return {"attributes": attributes}


def _field_type(name: str, value: Any, source: ArcgisFeatureServerSource) -> str:
    if name == order_field(source):
        return "esriFieldTypeOID"
    if name in {source.fields.get(f) for f in ("created_at", "closed_at", "updated_at")}:
        return "esriFieldTypeDate"
    return {int: "esriFieldTypeInteger", float: "esriFieldTypeDouble"}.get(type(value), "esriFieldTypeString")


def _fields(features: list[dict], source: ArcgisFeatureServerSource) -> list[dict]:
    values = {k: v for f in features for k, v in f["attributes"].items() if v is not None}
    return [{"name": name, "type": _field_type(name, values.get(name), source), "alias": name,
             "sqlType": "sqlTypeOther", "domain": None, "defaultValue": None} for name in out_fields(source)]


def query_body(source: ArcgisFeatureServerSource, features: list[dict], more: bool) -> dict:
    """A query response as ArcGIS writes it (no ``fields`` for an empty feature set, as the docs say)."""
    body: dict[str, Any] = {"objectIdFieldName": order_field(source),
                            "uniqueIdField": {"name": order_field(source), "isSystemMaintained": True},
                            "globalIdFieldName": ""}
    if wants_geometry(source):
        body |= {"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326, "latestWkid": 4326}}
    if features:
        body["fields"] = _fields(features, source)
    return body | {"features": features, "exceededTransferLimit": more}


def write_demo(demo: DemoFeed) -> list[str]:
    """The layer's JSON (for the freshness stamp) and each month's query pages, in Esri JSON."""
    source = demo.source
    assert isinstance(source, ArcgisFeatureServerSource) and demo.vocabulary is not None
    layer = {"currentVersion": 11.4, "id": source.layer, "name": source.service.split("/")[-2:][0],
             "type": "Feature Layer" if wants_geometry(source) else "Table", "objectIdField": order_field(source),
             "maxRecordCount": source.page_size, "editingInfo": {"lastEditDate": int(FETCHED_AT.timestamp() * 1000)}}
    store(demo.archive, layer_url(source), {"f": "json"}, as_json(layer), "application/json; charset=utf-8")
    lines, object_id = [], 0
    for month, items in demo.months.items():
        features = [demo_feature(item, source, demo, object_id + i + 1) for i, item in enumerate(items)]
        object_id += len(items)
        where = month_where(source, month, demo.city.timezone)
        pages = [features[i:i + source.page_size] for i in range(0, len(features), source.page_size)] or [[]]
        for number, page in enumerate(pages):
            store(demo.archive, query_url(source), page_params(source, where, number * source.page_size),
                  as_json(query_body(source, page, number < len(pages) - 1)), "application/json; charset=utf-8")
        lines.append(f"{month}: {len(items):5} records, {len(pages)} pages")
    return lines


CONNECTOR = Connector(ArcgisFeatureServerSource, write_demo, fetch_month=fetch_month, read_stamp=read_stamp)
