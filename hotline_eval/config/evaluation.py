"""The evaluation settings (config/evaluation.yaml): period, thresholds, the demo window."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.settings import DEFAULT_EVALUATION_FILE, Settings

__all__ = ["DEFAULT_EVALUATION_FILE", "Evaluation", "evaluation_for", "load_evaluation"]


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation_year: int = Field(ge=2000, le=2100)
    first_month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    coverage_threshold: float = Field(ge=0, le=1)
    unmapped_share_warn: float = Field(ge=0, le=1)
    monte_carlo_draws: int = Field(ge=0, le=100_000)
    monte_carlo_seed: int
    # published statistics and cited facts count from this many years before the evaluation year to this
    # many after it, the nearest year preferred
    evidence_years_before: int = Field(default=2, ge=0, le=20)
    evidence_years_after: int = Field(default=1, ge=0, le=5)
    speed_of_answer_target_seconds: float = Field(default=30, gt=0)

    def evidence_window(self) -> dict[str, float]:
        """Evidence's window settings, as Evidence.from_warehouse takes them."""
        return {"years_before": self.evidence_years_before, "years_after": self.evidence_years_after,
                "answer_target_seconds": self.speed_of_answer_target_seconds}


def load_evaluation(path: Path | str = DEFAULT_EVALUATION_FILE) -> Evaluation:
    return load_yaml_model(Path(path), Evaluation, what="evaluation settings")


def evaluation_for(settings: Settings) -> Evaluation:
    """The evaluation settings file the settings name ($HOTLINE_EVAL_EVALUATION), with the first request
    month from $HOTLINE_EVAL_FIRST_MONTH when set: historical months without editing the file."""
    evaluation = load_evaluation(settings.evaluation_file)
    return evaluation.model_copy(update={"first_month": settings.first_month}) if settings.first_month else evaluation
