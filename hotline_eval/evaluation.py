"""The evaluation settings (config/evaluation.yaml): period, thresholds, the demo window."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline_eval.errors import ConfigError
from hotline_eval.settings import PROJECT_ROOT

DEFAULT_EVALUATION_FILE = PROJECT_ROOT / "config" / "evaluation.yaml"


class Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation_year: int = Field(ge=2000, le=2100)
    first_month: str = Field(pattern=r"^\d{4}-\d{2}$")
    coverage_threshold: float = Field(ge=0, le=1)
    unmapped_share_warn: float = Field(ge=0, le=1)
    monte_carlo_draws: int = Field(ge=0, le=100_000)
    monte_carlo_seed: int


def load_evaluation(path: Path | str = DEFAULT_EVALUATION_FILE) -> Evaluation:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Evaluation.model_validate(raw)
    except FileNotFoundError:
        raise ConfigError(f"{path}: evaluation settings not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"field {'.'.join(map(str, e['loc']))!r}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
