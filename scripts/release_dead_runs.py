"""Mark failed the runs a killed process left STARTED, and free their concurrency-pool slots.

Needed only without `dagster dev` or the daemon (whose `release_dead_runs` sensor does this every 30 s),
e.g. before `dagster asset materialize` from a terminal after a run was killed. Uses $DAGSTER_HOME
(default .dagster_home/).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home"))


def main() -> int:
    import dagster as dg

    from sensors.run_recovery import release_dead_runs

    with dg.DagsterInstance.get() as instance:
        released = release_dead_runs(instance)
    for run_id in released:
        print(f"released run {run_id} (its process is gone; pool slots freed)")
    print(f"{len(released)} dead run(s) released")
    return 0


if __name__ == "__main__":
    sys.exit(main())
