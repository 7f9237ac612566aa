"""The configuration the asset definitions are built from: the settings (paths and mode), the city
registry and the evaluation window, loaded together by the definitions factory when the code location
loads (a bad file fails the load with a clear message). Importing this module reads nothing."""

from __future__ import annotations

from dataclasses import dataclass

from hotline_eval.config.evaluation import Evaluation, evaluation_for
from hotline_eval.config.registry import Registry, load_registry
from hotline_eval.config.settings import Settings


@dataclass(frozen=True)
class ProjectConfig:
    settings: Settings
    registry: Registry
    evaluation: Evaluation

    @classmethod
    def load(cls, settings: Settings) -> ProjectConfig:
        return cls(settings, load_registry(settings.cities_file), evaluation_for(settings))
