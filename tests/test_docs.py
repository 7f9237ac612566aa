"""docs/reliability.md stays current: every test it names as the proof of a promise exists."""

from __future__ import annotations

import re

from tests.helpers import PROJECT


def test_every_test_the_reliability_table_names_exists() -> None:
    missing, named = [], 0
    for line in (PROJECT / "docs" / "reliability.md").read_text(encoding="utf-8").splitlines():
        current = None  # a bare `::test_name` refers to the last file named on the same line
        for match in re.finditer(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", line):
            path, test = match.group(1), match.group(2)
            current = path or current
            if current is None:
                continue
            source = PROJECT / current
            named += 1
            if not source.exists() or (test and not re.search(rf"^def {test}\(", source.read_text(), re.M)):
                missing.append(f"{current}::{test or ''}")
    assert named > 30 and missing == []
