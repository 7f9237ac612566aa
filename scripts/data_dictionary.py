"""Write docs/data_dictionary.md from the table and column comments in sql/ddl/."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hotline_eval.publish.dictionary import data_dictionary_markdown  # noqa: E402

if __name__ == "__main__":
    target = ROOT / "docs" / "data_dictionary.md"
    target.write_text(data_dictionary_markdown(), encoding="utf-8")
    print(f"wrote {target}")
