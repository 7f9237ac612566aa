"""The indicator framework (config/indicators.yaml): primary -> secondary -> tertiary indicators.

Checked whole at load: the four primary indicators each once, every computation one that
hotline_eval/evaluation/computations.py defines, ids unique; a bad file fails naming its line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.settings import PROJECT_ROOT

DEFAULT_FRAMEWORK_FILE = PROJECT_ROOT / "config" / "indicators.yaml"
PRIMARY_IDS = ("process", "collaborative", "smart", "responsive")
Route = Literal["requests", "statistics", "pages", "curated", "registry"]
# the coarse kind of evidence each route is (marts.indicator_facts.evidence_kind)
ROUTE_KINDS: dict[str, str] = {"requests": "feeds", "statistics": "feeds", "pages": "pages", "curated": "curated",
                               "registry": "curated"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tertiary(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    definition: str
    unit: str
    direction: Literal["higher_is_better", "lower_is_better"]
    source_tables: list[str] = Field(min_length=1)
    computation: str
    routes: list[Route] = Field(min_length=1)
    goalposts: tuple[float, float] | None = None
    # standing arrangements (a law, the agencies coordinated) stay evidence longer than performance
    # figures: this many years before the evaluation year instead of evaluation.yaml's default
    evidence_years_before: int | None = Field(default=None, ge=0, le=30)
    weight: float = Field(gt=0)

    @field_validator("computation")
    @classmethod
    def _known_computation(cls, value: str, info: ValidationInfo) -> str:
        from hotline_eval.evaluation.computations import COMPUTATIONS  # it imports this module

        if value not in COMPUTATIONS:
            raise ValueError(f"indicator {info.data.get('id', '?')!r}: unknown computation {value!r}; "
                             f"known: {sorted(COMPUTATIONS)}")
        return value

    @model_validator(mode="after")
    def _routes_the_computation_has(self) -> Tertiary:
        from hotline_eval.evaluation.computations import COMPUTATIONS

        available = COMPUTATIONS[self.computation]
        unknown = [r for r in self.routes if r not in available]
        if unknown:
            raise ValueError(f"indicator {self.id!r}: computation {self.computation!r} has no route {unknown}; "
                             f"its routes: {list(available)}")
        if len(set(self.routes)) != len(self.routes):
            raise ValueError(f"indicator {self.id!r}: a route listed twice in {self.routes}")
        if self.goalposts is not None and not self.goalposts[0] < self.goalposts[1]:
            raise ValueError(f"indicator {self.id!r}: goalposts {list(self.goalposts)} need low < high")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_is_better"

    @property
    def evidence(self) -> str:
        """What the indicator rests on first: feeds (request data or published statistics), pages or curated."""
        return ROUTE_KINDS[self.routes[0]]


class Secondary(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    weight: float = Field(gt=0)
    tertiary: list[Tertiary] = Field(min_length=1)


class Primary(_Strict):
    id: Literal["process", "collaborative", "smart", "responsive"]
    name: str
    weight: float = Field(gt=0)
    secondary: list[Secondary] = Field(min_length=1)


class Framework(_Strict):
    version: int
    primary: list[Primary]

    @field_validator("primary")
    @classmethod
    def _every_primary_once(cls, value: list[Primary], info: ValidationInfo) -> list[Primary]:
        ids = [p.id for p in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"primary indicators listed twice: {twice}")
        missing = [i for i in PRIMARY_IDS if i not in ids]
        # a partial framework only where asked for (small hand-worked examples in tests)
        if missing and not (info.context or {}).get("partial"):
            raise ValueError(f"the framework needs all four primary indicators {list(PRIMARY_IDS)}; "
                             f"missing: {missing}")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Framework:
        ids = [t.id for t in self.tertiary()] + [s.id for p in self.primary for s in p.secondary]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate indicator ids: {dupes}")
        return self

    def tertiary(self) -> list[Tertiary]:
        return [t for p in self.primary for s in p.secondary for t in s.tertiary]


def _line_of(text: str, loc: tuple) -> int | None:
    """Best-effort line number of a pydantic error location, found by walking the YAML node tree."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break
        node = match
    return node.start_mark.line + 1


def _where(loc: tuple[int | str, ...], _raw: object, text: str) -> str:
    line = _line_of(text, loc)
    return f"{f'line {line}, ' if line else ''}field {'.'.join(map(str, loc))!r}"


def load_framework(path: Path | str = DEFAULT_FRAMEWORK_FILE, *, partial: bool = False) -> Framework:
    """Load and validate; a bad file raises ConfigError naming the line and the field. ``partial`` allows
    a framework without all four primary indicators (a small example worked out by hand)."""
    return load_yaml_model(Path(path), Framework, what="indicator framework", describe=_where,
                           context={"partial": partial})
