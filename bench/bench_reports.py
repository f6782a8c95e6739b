"""Time importing the two seed certification reports (text, and PDFs made from them).

Run: ``.venv/bin/python bench/bench_reports.py`` (needs ../shared/seeds).
Prints the median of several runs: parse of each seed's text, both seeds together,
and text-layer extraction + parse of a PDF made from each seed.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from geo.reports.parse import read_report  # noqa: E402

SEEDS = REPO.parent / "shared" / "seeds"
RUNS = 15


def _median_ms(func) -> float:
    func()  # warm-up (regex compilation, imports)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    files = sorted(SEEDS.glob("*.txt"))
    if not files:
        sys.exit(f"no seed reports in {SEEDS}")
    data = {f.name: f.read_bytes() for f in files}
    for name, payload in data.items():
        print(f"{name}: {len(payload) / 1024:.0f} KiB text  "
              f"{_median_ms(lambda p=payload: read_report(p)):.1f} ms")
    both = _median_ms(lambda: [read_report(p) for p in data.values()])
    print(f"both seeds (text): {both:.1f} ms median of {RUNS}")
    from test_reports import _text_pdf  # the minimal PDF writer the tests use

    pdfs = {name: _text_pdf(p.decode("utf-8")) for name, p in data.items()}
    both_pdf = _median_ms(lambda: [read_report(p, name="x.pdf") for p in pdfs.values()])
    print(f"both seeds (PDF, pypdf extraction + parse): {both_pdf:.1f} ms median of {RUNS}")


if __name__ == "__main__":
    main()
