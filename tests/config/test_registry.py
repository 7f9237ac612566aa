"""The city registry: the real folder is complete and valid; bad files fail with file, city and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_eval.config.registry import DEFAULT_CITIES_DIR, load_registry
from hotline_eval.errors import ConfigError
from tests.config.city_copies import copy_registry, mutate_city

REPORT_CITIES = {"beijing", "shanghai", "guangzhou", "hong_kong", "seoul", "singapore", "tokyo", "berlin", "paris",
                 "madrid", "london", "toronto", "new_york", "san_francisco"}


def test_the_registry_has_twenty_cities_including_the_reports_fourteen() -> None:
    registry = load_registry(DEFAULT_CITIES_DIR)
    ids = {c.id for c in registry.cities}
    assert len(registry.cities) == 20
    assert REPORT_CITIES <= ids
    assert {c.id for c in registry.cities if c.in_2024_report} == REPORT_CITIES
    for city in registry.cities:
        assert city.population.value > 0 and city.hotline.numbers and city.portals
        assert city.selection_reason


def test_new_york_is_configured_for_the_real_socrata_dataset() -> None:
    city, source = load_registry(DEFAULT_CITIES_DIR).source("nyc_311_socrata")
    assert city.id == "new_york" and source.kind == "socrata" and source.dataset == "erm2-nwe9"
    assert source.base_url == "https://data.cityofnewyork.us"
    assert source.fields["request_id"] == "unique_key" and source.fields["created_at"] == "created_date"
    assert "data.cityofnewyork.us" in city.hosts


def _write_broken(tmp_path: Path, city_id: str, mutate) -> Path:
    """A copy of the registry folder whose ``city_id`` file ``mutate`` changed: the folder."""
    folder = copy_registry(tmp_path)
    mutate_city(folder, city_id, mutate)
    return folder


def test_bad_timezone_names_file_city_and_field(tmp_path: Path) -> None:
    def mutate(raw):
        raw["timezone"] = "Asia/Seul"

    path = _write_broken(tmp_path, "seoul", mutate)
    with pytest.raises(ConfigError, match=r"seoul.yaml: invalid city registry:\n  city 'seoul', field 'timezone': "
                                          r".*unknown IANA timezone 'Asia/Seul'"):
        load_registry(path)


def test_bad_source_field_names_the_source(tmp_path: Path) -> None:
    def mutate(raw):
        raw["sources"][0]["page_size"] = -5

    path = _write_broken(tmp_path, "new_york", mutate)
    with pytest.raises(ConfigError, match=r"new_york.yaml: invalid city registry:\n  "
                                          r"city 'new_york', field 'sources.nyc_311_socrata.page_size'"):
        load_registry(path)


def test_missing_population_year_and_unknown_key(tmp_path: Path) -> None:
    def mutate(raw):
        del raw["population"]["year"]
        raw["mayor"] = "someone"

    path = _write_broken(tmp_path, "toronto", mutate)
    with pytest.raises(ConfigError) as info:
        load_registry(path)
    message = str(info.value)
    assert "field 'population.year': Field required" in message
    assert "field 'mayor': Extra inputs are not permitted" in message


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "cities.yaml"
    bad.write_text("cities: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_registry(bad)
    with pytest.raises(ConfigError, match="city registry not found"):
        load_registry(tmp_path / "nope.yaml")


def test_socrata_sources_ask_for_the_mapped_fields_and_a_bad_select_is_named(tmp_path: Path) -> None:
    registry = load_registry(DEFAULT_CITIES_DIR)
    socrata_sources = [s for c in registry.cities for s in c.sources if s.kind == "socrata"]
    assert socrata_sources and {s.select for s in socrata_sources} == {"mapped"}

    def mutate(raw):
        raw["sources"][0]["select"] = "everything"

    path = _write_broken(tmp_path, "new_york", mutate)
    with pytest.raises(ConfigError, match=r"city 'new_york', field 'sources.nyc_311_socrata.select'"):
        load_registry(path)
