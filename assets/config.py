"""The configuration the asset definitions are built from: the settings (paths and mode), the city
registry and the evaluation window, loaded together by the definitions factory when the code location
loads (a bad file fails the load with a clear message). Importing this module reads nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hotline_eval.config.evaluation import Evaluation, load_evaluation
from hotline_eval.config.registry import Registry, load_registry
from hotline_eval.config.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class ProjectConfig:
    settings: Settings
    registry: Registry
    evaluation: Evaluation

    @classmethod
    def load(cls, settings: Settings) -> ProjectConfig:
        return cls(settings, load_registry(settings.cities_file), load_evaluation(settings.evaluation_file))


class Bound(Generic[T]):
    """A value the definitions factory binds once it has loaded the configuration; attribute access is
    passed on to it. Transitional: sensors/freshness.py still reads REGISTRY (and assets.requests'
    CITY_MONTHS) as module names; once make_freshness_sensor takes them as arguments, this goes."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._value: T | None = None

    def bind(self, value: T) -> None:
        self._value = value

    def get(self) -> T:
        if self._value is None:
            raise RuntimeError(f"{self._what} is not loaded: build the definitions first "
                               "(definitions.build_definitions)")
        return self._value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)


REGISTRY: Bound[Registry] = Bound("the city registry")
