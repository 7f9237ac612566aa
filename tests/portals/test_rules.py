"""The rules file config/portal_rules.yaml (hotline_eval.portals.rules): loads, and names file and field of
any mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hotline_eval.errors import ConfigError
from hotline_eval.portals.rules import DEFAULT_RULES_FILE, FEATURE_IDS, PortalRules, load_portal_rules


def test_rules_file_loads_with_every_feature(rules: PortalRules) -> None:
    assert set(rules.features) == set(FEATURE_IDS)
    assert rules.version >= 1


def write_rules(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "portal_rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["features"]["channel_phone"].update(links=["(unclosed"]), "features.channel_phone.links"),
        (lambda r: r["features"].pop("open_24_7"), "missing rules for ['open_24_7']"),
        (lambda r: r["features"]["faq_size"]["numbers"].update(en=["no placeholder"]), "features.faq_size.numbers"),
        (lambda r: r["overrides"][0].update(content_selector="div[["), "overrides[0](new_york).content_selector"),
        (lambda r: r.update(colour="blue"), "colour"),
    ],
)
def test_bad_rules_file_names_file_and_field(tmp_path: Path, mutate, expected: str) -> None:
    path = write_rules(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_portal_rules(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_portal_rules(tmp_path / "nope.yaml")
