"""The Dagster layer of the portals (assets/portals.py) over the loopback server."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

import assets.portals as portal_assets
from assets.resources import LiveHttpResource
from hotline_eval.config.registry import load_registry


def test_portal_assets_warn_once_for_a_json_page_and_read_json_directories(tmp_path: Path, server,
                                                                          json_city) -> None:
    """The Dagster layer: a JSON directory gives no "page not read" warning and lands in the catalogue;
    a page URL answering JSON warns once, naming its URL once."""
    # one directory: the catalogue keeps one per city (the registry configures no more)
    city = json_city.model_copy(update={"portals": json_city.portals[:3]})
    features, catalog = portal_assets.portal_assets(load_registry().model_copy(update={"cities": [city]}))
    instance = dg.DagsterInstance.ephemeral()
    resources = {"http": LiveHttpResource(archive_dir=str(tmp_path / "archive"), private_hosts=["localhost"],
                                          min_interval_s=0.0, max_attempts=1),
                 "warehouse_db": DuckDBResource(database=str(tmp_path / "work.duckdb"))}
    result = dg.materialize([features, catalog], resources=resources,
                            instance=instance)
    assert result.success
    warnings = [e.user_message for e in instance.all_logs(result.run_id)
                if e.level >= logging.WARNING and e.dagster_event is None]
    about = json_city.portals[1].url
    assert warnings == [f"page not read: {about}: looks like JSON, not HTML"], warnings
    con = duckdb.connect(str(tmp_path / "work.duckdb"), read_only=True)
    try:
        catalog = con.execute("SELECT service_code FROM staging.service_catalog ORDER BY ALL").fetchall()
        pages = con.execute("SELECT value FROM staging.portal_features WHERE feature = 'pages_read'").fetchall()
    finally:
        con.close()
    assert [c for (c,) in catalog] == ["Heat/Hot Water / Entire Building", "Noise - Residential / Loud Music/Party",
                                       "Plumbing / Water Leak", "Street Condition"]
    assert pages == [(city.portals[0].url,)]
    assert [r.path for r, _ in server.log if r.path.endswith(".json")] == ["/resource/sla.json"]  # by the catalogue
