"""What the 2024 report published about individual cities (config/report_facts.yaml), each with its
citation: the golden facts the framework and the curated evidence are held to."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.registry import SLUG, http_url
from hotline_eval.config.settings import PROJECT_ROOT

DEFAULT_REPORT_FACTS = PROJECT_ROOT / "config" / "report_facts.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FullMarks(_Strict):
    """Secondary indicators (under collaborative governance) on which the report gave a city full marks."""

    city_id: str = Field(pattern=SLUG)
    secondary: list[str] = Field(min_length=1)
    citation: str
    quote: str = Field(min_length=3)

    _url = field_validator("citation")(http_url)


class HotlineType(_Strict):
    """The type of hotline the report names a city's an example of."""

    city_id: str = Field(pattern=SLUG)
    type: str = Field(min_length=1)
    citation: str

    _url = field_validator("citation")(http_url)


class ReportFacts(_Strict):
    seoul_full_marks: FullMarks
    hotline_types: list[HotlineType] = Field(min_length=1)


def load_report_facts(path: Path | str = DEFAULT_REPORT_FACTS) -> ReportFacts:
    """Load and validate; a bad file raises ConfigError naming the file and the field."""
    return load_yaml_model(Path(path), ReportFacts, what="report's published facts",
                           expect="a mapping with 'seoul_full_marks' and 'hotline_types'")
