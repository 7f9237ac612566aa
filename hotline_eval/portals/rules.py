"""The rules file ``config/portal_rules.yaml``: what the feature extractor looks for, validated.

Keywords per language, link patterns, published-number patterns and per-site overrides (content
selectors, extra keywords, the CSS selectors of an HTML service directory). A mistake in the file is a
ConfigError naming the file and the field (``overrides[0](new_york).content_selector``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import soupsieve
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.portals.text import NUMBER_PATTERN

DEFAULT_RULES_FILE = PROJECT_ROOT / "config" / "portal_rules.yaml"

FeatureId = Literal[
    "channel_phone", "channel_sms", "channel_web_form", "channel_mobile_app", "channel_social", "channel_email",
    "channel_walk_in", "channel_chatbot", "open_24_7", "languages", "online_case_tracking", "faq_size",
    "service_catalogue_size", "open_data_published", "accessibility_tty", "accessibility_relay",
    "accessibility_sign_language", "accessibility_plain_language", "agencies_integrated",
    "published_time_limits", "follow_up_contact", "requests_analysis",
]
FEATURE_IDS: tuple[str, ...] = FeatureId.__args__  # type: ignore[attr-defined]
# features whose value is a number (value_num); the rest are presence ("yes") or the language list
NUMBER_FEATURES = ("faq_size", "service_catalogue_size", "agencies_integrated")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
    return pattern


def _check_css(selector: str | None) -> str | None:
    if selector is None:
        return None
    try:
        soupsieve.compile(selector)
    except Exception as exc:  # soupsieve raises SelectorSyntaxError and friends
        raise ValueError(f"not a valid CSS selector {selector!r}: {exc}") from None
    return selector


KeywordLists = dict[str, list[str]]


def _check_keyword_lists(value: KeywordLists) -> KeywordLists:
    for language, words in value.items():
        if language != "*" and not re.fullmatch(r"[a-z]{2}(-[A-Za-z]{2,4})?", language):
            raise ValueError(f"language key {language!r} is not a language code (or '*')")
        for word in words:
            if not word.strip():
                raise ValueError(f"empty keyword in {language!r}")
            if word.startswith("re:"):
                _check_regex(word[3:])
    return value


class FeatureRule(_Strict):
    """How one feature is recognised; see the header of config/portal_rules.yaml."""

    keywords: KeywordLists = Field(default_factory=dict)
    links: list[str] = Field(default_factory=list)
    exclude: KeywordLists = Field(default_factory=dict)
    numbers: KeywordLists = Field(default_factory=dict)
    selectors: list[str] = Field(default_factory=list)

    _kw = field_validator("keywords", "exclude")(_check_keyword_lists)

    @field_validator("links")
    @classmethod
    def _links(cls, value: list[str]) -> list[str]:
        return [_check_regex(p) for p in value]

    @field_validator("selectors")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            _check_css(selector)
        return value

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, value: KeywordLists) -> KeywordLists:
        for patterns in value.values():
            for pattern in patterns:
                if pattern.count("{n}") != 1:
                    raise ValueError(f"number pattern {pattern!r} must contain '{{n}}' exactly once")
                _check_regex(pattern.replace("{n}", NUMBER_PATTERN))
        return value


class CatalogueSelectors(_Strict):
    """CSS selectors of an HTML service directory. All but ``item`` are relative to one item.

    ``code`` + ``code_attr`` + ``code_pattern`` take the service code from an attribute (e.g. the
    number in ``href="/dienstleistung/120686/"``); without them the service name is the code.
    ``group_heading`` takes the group from the nearest heading (h1-h4) before the item.
    """

    item: str
    name: str | None = None
    code: str | None = None
    code_attr: str | None = None
    code_pattern: str | None = None
    group: str | None = None
    group_heading: bool = False
    agency: str | None = None
    keywords: str | None = None

    _css = field_validator("item", "name", "code", "group", "agency", "keywords")(_check_css)

    @field_validator("code_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None and re.compile(_check_regex(value)).groups < 1:
            raise ValueError(f"code_pattern {value!r} needs a group () around the code")
        return value


class SiteOverride(_Strict):
    """Rules for one city's pages (all of them, or those under ``url_prefix``)."""

    city_id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    url_prefix: str | None = None
    content_selector: str | None = None
    extra_keywords: dict[FeatureId, KeywordLists] = Field(default_factory=dict)
    catalogue: CatalogueSelectors | None = None

    _css = field_validator("content_selector")(_check_css)

    @field_validator("extra_keywords")
    @classmethod
    def _extra(cls, value: dict[str, KeywordLists]) -> dict[str, KeywordLists]:
        for lists in value.values():
            _check_keyword_lists(lists)
        return value


class PortalRules(_Strict):
    """config/portal_rules.yaml, validated. Compiled matchers are cached on the instance."""

    version: int = Field(ge=1)
    extra_languages: list[str] = Field(default_factory=list)
    language_fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    max_html_chars: int = Field(default=8_000_000, gt=0)
    language_names: dict[str, list[str]]
    features: dict[FeatureId, FeatureRule]
    overrides: list[SiteOverride] = Field(default_factory=list)

    _cache: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _every_feature(self) -> PortalRules:
        missing = [f for f in FEATURE_IDS if f not in self.features]
        if missing:
            raise ValueError(f"features: missing rules for {missing}")
        for feature in NUMBER_FEATURES:
            if feature != "faq_size" and not self.features[feature].numbers:
                raise ValueError(f"features.{feature}: needs `numbers` patterns")
        return self

    def overrides_for(self, city_id: str, url: str) -> list[SiteOverride]:
        return [o for o in self.overrides if o.city_id == city_id and (o.url_prefix is None or
                                                                       url.startswith(o.url_prefix))]


def _describe_loc(loc: Sequence[int | str], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            label = node.get("city_id") if isinstance(node, dict) else None
            parts.append(f"[{key}]" + (f"({label})" if label else ""))
            continue
        parts.append(f".{key}" if parts else str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def load_portal_rules(path: Path | str = DEFAULT_RULES_FILE) -> PortalRules:
    """Read and validate the rules file; any problem is a ConfigError naming the file and field."""
    return load_yaml_model(Path(path), PortalRules, what="portal rules",
                           describe=lambda loc, raw, _text: _describe_loc(loc, raw),
                           expect="a mapping with 'version', 'language_names' and 'features'")
