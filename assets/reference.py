"""Configuration as assets: the city registry and the value mappings, so they show in lineage. The assets
that read the registry are built by `reference_assets` from the registry the definitions factory loaded."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.catalog import OWNERS, STAGING_GROUP, table_metadata
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.config.registry import Registry
from hotline_eval.config.report_facts import load_report_facts
from hotline_eval.evaluation.curated import cited_facts_shortfall, load_evidence
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.reference import cities_frame
from hotline_eval.publish.sql_files import run_query
from hotline_eval.publish.warehouse import replace_rows
from hotline_eval.staging.mappings import load_mappings

CITIES = dg.AssetKey(["staging", "cities"])
MAPPINGS = dg.AssetKey(["staging", "value_mappings"])
EVIDENCE = dg.AssetKey(["staging", "curated_evidence"])


@dg.asset(key_prefix=["staging"], name="value_mappings", group_name=STAGING_GROUP, kinds={"csv", "duckdb"},
          owners=OWNERS, pool=WAREHOUSE_POOL,
          check_specs=[dg.AssetCheckSpec("every_mapping_present", asset=["staging", "value_mappings"],
                                         description="Status, channel and category mappings are all loaded.")],
          description="Status, channel and category mappings from config/mappings/*.csv.")
def value_mappings(warehouse_db: DuckDBResource):
    frame = load_mappings()
    with warehouse(warehouse_db) as con:
        replace_rows(con, "staging.value_mappings", frame)
        table = table_metadata(con, MAPPINGS)
    present = set(frame["mapping"].unique().to_list())
    yield dg.MaterializeResult(metadata={
        **table,
        "dagster/row_count": frame.height,
        "by_mapping": dg.MetadataValue.json(dict(frame.group_by("mapping").len().sort("mapping").iter_rows())),
    })
    yield dg.AssetCheckResult(check_name="every_mapping_present", passed=present == {"status", "channel", "category"},
                              metadata={"mappings": ", ".join(sorted(present))})


def reference_assets(registry: Registry) -> list[dg.AssetsDefinition]:
    """staging/cities, staging/value_mappings and staging/curated_evidence for this registry."""

    @dg.asset(key_prefix=["staging"], name="cities", group_name=STAGING_GROUP, kinds={"yaml", "duckdb"},
              owners=OWNERS, pool=WAREHOUSE_POOL,
              check_specs=[dg.AssetCheckSpec("one_row_per_registered_city", asset=["staging", "cities"],
                                             description="As many unique rows as the registry has cities.")],
              description="The evaluated cities from config/cities/ (one file per city, schema-checked at load).")
    def cities(warehouse_db: DuckDBResource):
        frame = cities_frame(registry, load_report_facts())
        with warehouse(warehouse_db) as con:
            replace_rows(con, "staging.cities", frame)
            stored = run_query(con, "city_counts").row(0)
            table = table_metadata(con, CITIES)
        yield dg.MaterializeResult(metadata={
            **table,
            "dagster/row_count": frame.height,
            "by_data_level": dg.MetadataValue.json(
                dict(frame.group_by("data_level").len().sort("data_level").iter_rows())),
        })
        yield dg.AssetCheckResult(check_name="one_row_per_registered_city",
                                  passed=stored == (len(registry.cities), len(registry.cities)),
                                  metadata={"rows": stored[0], "registered": len(registry.cities)})

    @dg.asset(key_prefix=["staging"], name="curated_evidence", group_name=STAGING_GROUP, kinds={"csv", "duckdb"},
              owners=OWNERS, pool=WAREHOUSE_POOL,
              check_specs=[dg.AssetCheckSpec(
                  "three_cited_facts_per_city", asset=EVIDENCE,
                  description="Every registered city has at least 3 cited facts on at least 2 indicators.")],
              description="Cited facts from config/evidence/<city_id>.csv: figures and statements a city's reports "
                          "and pages publish, each with URL, title, publisher, date, the quoted passage and its "
                          "English gloss (a row without them is refused at load).")
    def curated_evidence(warehouse_db: DuckDBResource):
        frame = load_evidence(registry, load_framework())
        with warehouse(warehouse_db) as con:
            replace_rows(con, "staging.curated_evidence", frame)
            table = table_metadata(con, EVIDENCE)
        thin = cited_facts_shortfall(frame, [c.id for c in registry.cities])
        yield dg.MaterializeResult(metadata={
            **table,
            "dagster/row_count": frame.height,
            "cities": frame["city_id"].n_unique(),
            "by_indicator": dg.MetadataValue.json(dict(frame.group_by("indicator_id").len().sort("indicator_id")
                                                       .iter_rows())),
        })
        yield dg.AssetCheckResult(check_name="three_cited_facts_per_city", passed=not thin,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"short": dg.MetadataValue.json(thin)})

    return [cities, value_mappings, curated_evidence]
