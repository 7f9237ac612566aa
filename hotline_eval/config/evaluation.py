"""The evaluation settings (config/evaluation.yaml): period, thresholds, the demo window."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.settings import DEFAULT_EVALUATION_FILE

__all__ = ["DEFAULT_EVALUATION_FILE", "Evaluation", "load_evaluation"]


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation_year: int = Field(ge=2000, le=2100)
    first_month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    coverage_threshold: float = Field(ge=0, le=1)
    unmapped_share_warn: float = Field(ge=0, le=1)
    monte_carlo_draws: int = Field(ge=0, le=100_000)
    monte_carlo_seed: int


def load_evaluation(path: Path | str = DEFAULT_EVALUATION_FILE) -> Evaluation:
    return load_yaml_model(Path(path), Evaluation, what="evaluation settings")
