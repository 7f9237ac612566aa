"""Evaluation: the indicator framework, indicator facts and request parts, survival, scoring and the
ranking, capabilities, explanations, golden facts and curated evidence."""
