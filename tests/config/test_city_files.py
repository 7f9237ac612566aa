"""The registry as one file per city: order, the file-name rule, errors naming the city's file, the
single-file form kept; and the demo template for a city without hand-made pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hotline_eval.config.city_files import city_files, load_city_folder
from hotline_eval.config.registry import DEFAULT_CITIES_DIR, load_registry
from hotline_eval.errors import ConfigError
from hotline_eval.portals.demo_template import portal_page, portal_pages
from hotline_eval.portals.features import extract_features
from hotline_eval.portals.rules import load_portal_rules
from tests.config.city_copies import copy_registry, mutate_city
from tests.helpers import FIXTURES

# the order of the former single config/cities.yaml, which config/cities/ORDER keeps
FORMER_ORDER = ["new_york", "san_francisco", "toronto", "beijing", "shanghai", "guangzhou", "hong_kong", "seoul",
                "tokyo", "singapore", "berlin", "paris", "madrid", "london", "sao_paulo", "buenos_aires", "cape_town",
                "istanbul", "mumbai", "sydney"]


def test_every_city_file_is_named_after_its_city_and_the_order_is_kept() -> None:
    registry = load_registry()
    assert [c.id for c in registry.cities] == FORMER_ORDER
    assert [p.stem for p in city_files(DEFAULT_CITIES_DIR)] == FORMER_ORDER
    assert {p.stem for p in DEFAULT_CITIES_DIR.glob("*.yaml")} == set(FORMER_ORDER)
    # the human-edited text, comments kept
    assert "# unverified" in (DEFAULT_CITIES_DIR / "sydney.yaml").read_text(encoding="utf-8")


def test_a_folder_and_the_same_cities_in_one_file_give_the_same_registry(tmp_path: Path) -> None:
    cities = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in city_files(DEFAULT_CITIES_DIR)]
    single = tmp_path / "cities.yaml"
    single.write_text(yaml.safe_dump({"version": 1, "cities": cities}, allow_unicode=True), encoding="utf-8")
    assert load_registry(single) == load_registry(DEFAULT_CITIES_DIR)
    # the environment may name either form
    assert load_registry(FIXTURES / "cities_min.yaml").city("new_york").sources


def test_the_environment_names_a_folder(tmp_path: Path, monkeypatch) -> None:
    folder = copy_registry(tmp_path)
    (folder / "sydney.yaml").unlink()
    (folder / "ORDER").write_text((folder / "ORDER").read_text().replace("sydney\n", ""))
    monkeypatch.setenv("HOTLINE_EVAL_CITIES", str(folder))
    assert [c.id for c in load_registry().cities] == FORMER_ORDER[:-1]


def test_a_new_city_needs_only_its_file_and_follows_the_listed_ones(tmp_path: Path) -> None:
    folder = copy_registry(tmp_path)
    for city_id in ("zeta", "alpha"):
        text = (folder / "sydney.yaml").read_text(encoding="utf-8").replace("id: sydney", f"id: {city_id}")
        (folder / f"{city_id}.yaml").write_text(text, encoding="utf-8")
    assert [c.id for c in load_city_folder(folder).cities] == [*FORMER_ORDER, "alpha", "zeta"]
    (folder / "ORDER").unlink()  # without ORDER: by file name
    assert [c.id for c in load_city_folder(folder).cities] == sorted([*FORMER_ORDER, "alpha", "zeta"])


def test_a_file_not_named_after_its_city_is_named(tmp_path: Path) -> None:
    folder = copy_registry(tmp_path)
    (folder / "sydney.yaml").rename(folder / "sidney.yaml")
    (folder / "ORDER").unlink()
    with pytest.raises(ConfigError, match=r"sidney\.yaml: the file of city 'sydney' must be named sydney\.yaml"):
        load_registry(folder)


def test_a_city_file_without_an_id_names_the_file_and_the_field(tmp_path: Path) -> None:
    folder = copy_registry(tmp_path)
    mutate_city(folder, "berlin", lambda raw: raw.pop("id"))
    with pytest.raises(ConfigError, match=r"berlin\.yaml: invalid city registry:\n  city 'berlin', field 'id': "
                                          r"Field required"):
        load_registry(folder)


def test_order_errors_name_the_order_file_and_line(tmp_path: Path) -> None:
    folder = copy_registry(tmp_path)
    order = folder / "ORDER"
    order.write_text("# first\nnew_york\nnew_york\n")
    with pytest.raises(ConfigError, match=r"ORDER, line 3: city 'new_york' listed twice"):
        load_registry(folder)
    order.write_text("new_york\natlantis\n")
    with pytest.raises(ConfigError, match=r"ORDER, line 2: no city file atlantis\.yaml"):
        load_registry(folder)


def test_a_source_id_in_two_cities_names_both_files(tmp_path: Path) -> None:
    folder = copy_registry(tmp_path)
    text = (folder / "new_york.yaml").read_text(encoding="utf-8").replace("id: new_york", "id: new_york_2")
    (folder / "new_york_2.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"new_york_2\.yaml: source id 'nyc_311_socrata' of city 'new_york_2' "
                                          r"is already used in .*new_york\.yaml"):
        load_registry(folder)


def test_an_empty_folder_and_bad_yaml_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no city files"):
        load_registry(empty)
    folder = copy_registry(tmp_path)
    (folder / "paris.yaml").write_text("id: [\n")
    with pytest.raises(ConfigError, match=r"paris\.yaml: not valid YAML"):
        load_registry(folder)
    (folder / "paris.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match=r"paris\.yaml: expected a mapping: one city"):
        load_registry(folder)


def test_the_template_gives_a_phone_channel_and_says_it_is_synthetic() -> None:
    city = load_registry().city("sydney")
    pages = portal_pages(city)
    assert [p.url for p, _ in pages] == [p.url for p in city.portals]
    html = portal_page(city, city.portals[0]).decode("utf-8")
    assert "synthetic demo page" in html and "Synthetic demo page" in html
    assert 'href="tel:0292659333"' in html and city.hotline.brand in html
    found = {f.feature: f for f in extract_features(html, url=city.portals[0].url, language="en",
                                                    city_id=city.id, rules=load_portal_rules())}
    assert found["channel_phone"].value == "yes"
    assert {"channel_web_form", "online_case_tracking", "languages"} <= set(found)
    assert portal_page(city, city.portals[0]) == portal_page(city, city.portals[0])  # deterministic


def test_the_template_skips_data_files() -> None:
    city = load_registry().city("new_york")
    written = [p.url for p, _ in portal_pages(city)]
    assert written and not any(re.search(r"\.json", url) for url in written)
