"""Configuration loaded once when the code location loads; a bad file fails the load with a clear message."""

from __future__ import annotations

from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import load_settings

SETTINGS = load_settings()
REGISTRY = load_registry()
EVALUATION = load_evaluation()
