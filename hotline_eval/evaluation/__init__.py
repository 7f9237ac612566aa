"""Evaluation: the indicator framework, indicator facts and request parts, survival, scoring,
capabilities, explanations, golden facts and curated evidence."""
