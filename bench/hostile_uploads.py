"""The hostile uploads corpus through ``catchscope import``: one line per file, then totals.

Each file of tests/hostile/uploads/MANIFEST.toml is imported by a real ``catchscope
import`` process into a fresh copy of the demo workspace (what tests/test_hostile_uploads.py
asserts). Run: ``.venv/bin/python bench/hostile_uploads.py`` (about a second or two per
file).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _corpus() -> ModuleType:
    path = REPO / "tests" / "hostile" / "uploads" / "corpus.py"
    spec = importlib.util.spec_from_file_location("hostile_uploads_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    """Run every file and print its outcome, then the four totals."""
    corpus = _corpus()
    entries = corpus.manifest()
    totals: Counter[str] = Counter()
    started = time.perf_counter()
    print(f"{'file':34} {'format':17} {'expected':9} {'outcome':19} ok")
    with tempfile.TemporaryDirectory(prefix="catchscope-hostile-") as folder:
        for number, entry in enumerate(entries):
            outcome = corpus.run(entry, Path(folder) / str(number))
            totals["files"] += 1
            totals["generated"] += entry.generated
            totals["refused cleanly"] += outcome.refused_cleanly
            totals["imported correctly"] += outcome.imported and outcome.as_expected
            totals["traceback"] += outcome.traceback
            totals["workspace changed on refusal"] += outcome.changed_on_refusal
            totals["not as the manifest says"] += not outcome.as_expected
            print(f"{entry.path:34} {entry.format:17} {entry.expect:9} {outcome.label:19} "
                  f"{'yes' if outcome.as_expected else 'NO'}", flush=True)
    seconds = time.perf_counter() - started
    print()
    print(f"{totals['files']} files ({totals['files'] - totals['generated']} in the repository, "
          f"{totals['generated']} built at run time), {seconds:.0f} s")
    for key in ("refused cleanly", "imported correctly", "traceback",
                "workspace changed on refusal", "not as the manifest says"):
        print(f"  {key:30} {totals[key]}")
    if totals["traceback"] or totals["workspace changed on refusal"] \
            or totals["not as the manifest says"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
