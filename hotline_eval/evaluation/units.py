"""A published figure in its own unit -> the indicator's value, and the period it describes -> its year.

Cited facts (config/evidence/) and published statistics state figures as their source does: "80" in
percent, "4.63" on a 1-5 scale, "2,106,667 calls" over ten months, an average speed of answer in
seconds. Each is converted here, one rule per (indicator unit, source unit) pair, so that a figure is
written once, as read, and the conversion is code that is tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2]))?(?:/(\d{4})(?:-(0[1-9]|1[0-2]))?)?$")
SCALE = re.compile(r"^score (-?\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")
VOLUME_UNITS = ("contacts per year", "calls per year", "cases per year", "requests per year", "count", "calls")
COUNT_UNITS = ("channels", "languages", "agencies", "hotlines", "services", "features", "entries")


class UnitError(ValueError):
    """A figure whose unit cannot give the indicator's (the message says which units can)."""


@dataclass(frozen=True)
class Period:
    """A year, a month or a range of them, as written (``2024``, ``2024-06``, ``2025-01/2025-10``)."""

    text: str
    start_year: int
    end_year: int
    months: int  # months the period spans (12 for a year)

    @property
    def year(self) -> int:
        """The year the figure describes: the period's last year."""
        return self.end_year


def parse_period(text: str) -> Period:
    match = PERIOD.match(text.strip())
    if match is None:
        raise UnitError(f"not a period (YYYY, YYYY-MM or a range such as 2025-01/2025-10): {text!r}")
    y1, m1, y2, m2 = match.groups()
    if y2 is None:
        return Period(text, int(y1), int(y1), 1 if m1 else 12)
    if (m1 is None) != (m2 is None):
        raise UnitError(f"a range needs both ends as years or both as months: {text!r}")
    start = int(y1) * 12 + int(m1 or 1) - 1
    end = int(y2) * 12 + int(m2 or 12) - 1
    if end < start:
        raise UnitError(f"the range ends before it starts: {text!r}")
    return Period(text, int(y1), int(y2), end - start + 1)


def accepted_units(indicator_unit: str) -> str:
    """The source units a figure for an indicator of ``indicator_unit`` may be given in, for messages."""
    if indicator_unit == "share":
        return "percent, share, score A-B (satisfaction), seconds (service level: average speed of answer)"
    if indicator_unit.startswith("requests per 1,000"):
        return ", ".join(VOLUME_UNITS)
    if indicator_unit in ("yes/no", "score"):
        return "yes/no, score 0-1"
    return indicator_unit


def convert(indicator_unit: str, source_unit: str, value: float, *, indicator_id: str = "",
            months: int = 12, population: float | None = None, answer_target_seconds: float | None = None) -> float:
    """``value`` given in ``source_unit`` as the indicator's value; UnitError for a pair with no rule."""
    if indicator_unit == "share":
        return _share(indicator_id, source_unit, value, answer_target_seconds)
    if indicator_unit.startswith("requests per 1,000"):
        if source_unit not in VOLUME_UNITS:
            raise UnitError(f"{indicator_id}: unit {source_unit!r}; a volume needs one of {list(VOLUME_UNITS)}")
        if not population:
            raise UnitError(f"{indicator_id}: a volume per resident needs the city's population")
        return value / months * 12 / population * 1000
    if indicator_unit in ("yes/no", "score") and source_unit in ("yes/no", "score 0-1"):
        if not 0 <= value <= 1:
            raise UnitError(f"{indicator_id}: {source_unit} takes values from 0 to 1, not {value}")
        return value
    if indicator_unit == source_unit and indicator_unit in COUNT_UNITS:
        if value < 0:
            raise UnitError(f"{indicator_id}: a count cannot be negative ({value})")
        return value
    raise UnitError(f"{indicator_id}: unit {source_unit!r} cannot give {indicator_unit!r}; "
                    f"use {accepted_units(indicator_unit)}")


def _share(indicator_id: str, source_unit: str, value: float, answer_target_seconds: float | None) -> float:
    if source_unit == "percent":
        if not 0 <= value <= 100:
            raise UnitError(f"{indicator_id}: a percentage must be within 0-100, not {value}")
        return value / 100
    if source_unit == "share":
        if not 0 <= value <= 1:
            raise UnitError(f"{indicator_id}: a share must be within 0-1, not {value}")
        return value
    scale = SCALE.match(source_unit)
    if scale and indicator_id == "satisfaction":
        low, high = float(scale.group(1)), float(scale.group(2))
        if not low < high or not low <= value <= high:
            raise UnitError(f"{indicator_id}: {value} is not on the scale {low:g}-{high:g}")
        return (value - low) / (high - low)
    if source_unit == "seconds" and indicator_id == "service_level":
        if answer_target_seconds is None or value <= 0:
            raise UnitError(f"{indicator_id}: an average speed of answer needs a positive value and the answer "
                            f"target (evaluation.yaml, speed_of_answer_target_seconds)")
        return min(1.0, answer_target_seconds / value)
    raise UnitError(f"{indicator_id}: unit {source_unit!r} cannot give a share; use {accepted_units('share')}")
