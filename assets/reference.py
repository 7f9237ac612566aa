"""Configuration as assets: the city registry and the value mappings, so they show in lineage."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.config import REGISTRY
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.curated import load_evidence
from hotline_eval.framework import load_framework
from hotline_eval.mappings import load_mappings
from hotline_eval.reference import cities_frame
from hotline_eval.warehouse import replace_rows


@dg.asset(key_prefix=["staging"], name="cities", group_name="reference", kinds={"yaml", "duckdb"},
          pool=WAREHOUSE_POOL,
          description="The evaluated cities from config/cities.yaml (schema-checked at load).")
def cities(warehouse_db: DuckDBResource) -> dg.MaterializeResult:
    frame = cities_frame(REGISTRY)
    with warehouse(warehouse_db) as con:
        replace_rows(con, "staging.cities", frame)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": frame.height,
        "by_data_level": dg.MetadataValue.json(
            dict(frame.group_by("data_level").len().sort("data_level").iter_rows())),
    })


@dg.asset(key_prefix=["staging"], name="value_mappings", group_name="reference", kinds={"csv", "duckdb"},
          pool=WAREHOUSE_POOL,
          description="Status, channel and category mappings from config/mappings/*.csv.")
def value_mappings(warehouse_db: DuckDBResource) -> dg.MaterializeResult:
    frame = load_mappings()
    with warehouse(warehouse_db) as con:
        replace_rows(con, "staging.value_mappings", frame)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": frame.height,
        "by_mapping": dg.MetadataValue.json(dict(frame.group_by("mapping").len().sort("mapping").iter_rows())),
    })


@dg.asset(key_prefix=["staging"], name="curated_evidence", group_name="reference", kinds={"csv", "duckdb"},
          pool=WAREHOUSE_POOL,
          description="Facts no feed or page shows (a hotline ordinance, hotlines merged), each with its citation, "
                      "from config/evidence.csv (schema-checked).")
def curated_evidence(warehouse_db: DuckDBResource) -> dg.MaterializeResult:
    frame = load_evidence(REGISTRY, load_framework())
    with warehouse(warehouse_db) as con:
        replace_rows(con, "staging.curated_evidence", frame)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": frame.height,
        "cities": frame["city_id"].n_unique(),
        "by_indicator": dg.MetadataValue.json(dict(frame.group_by("indicator_id").len().sort("indicator_id")
                                                   .iter_rows())),
    })
