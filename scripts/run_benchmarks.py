"""Run every ``scripts/bench_*.py`` and collect their figures into one table.

Each benchmark prints, as its last lines, one JSON object per figure::

    {"name": ..., "value": ..., "unit": ..., "baseline": ..., "ratio": ..., "target": ...}

where the baseline was measured in the same run.  This runner executes the benchmarks
one after another (they would disturb each other in parallel), keeps their full output
in ``bench/<name>.log``, and writes ``bench/results.json`` and ``bench/results.md`` —
the Markdown table is the README's performance section.

    python scripts/run_benchmarks.py            # full sizes, as the README reports
    python scripts/run_benchmarks.py --quick    # small sizes, a smoke run of every script
    python scripts/run_benchmarks.py settlement segments   # only these, merged into
                                                           # the last results
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench"

# Arguments that make each benchmark small enough for a smoke run.
QUICK_ARGS: dict[str, list[str]] = {
    "anchoring": ["--rounds", "1", "--verify-runs", "3"],
    "chain": ["--quick"],
    "dispatch": ["--count", "2000"],
    "import": ["--orgs", "5000", "--sample", "500"],
    "segments": ["--scale", "0.01", "--runs", "1"],
    "settlement": ["--quick"],
}


def parse_figures(output: str) -> list[dict[str, object]]:
    """The JSON figure lines of a benchmark's output, in order."""
    figures = []
    for line in output.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and {"name", "value"} <= data.keys():
            figures.append(data)
    return figures


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown_table(results: list[dict[str, object]]) -> str:
    lines = [
        "| Benchmark | Figure | Value | Baseline (same run) | Ratio | Target |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        for figure in result["figures"]:  # type: ignore[union-attr]
            unit = f" {figure.get('unit')}" if figure.get("unit") else ""
            lines.append(
                f"| {result['benchmark']} | {_cell(figure['name'])} "
                f"| {_cell(figure['value'])}{unit} | {_cell(figure.get('baseline'))} "
                f"| {_cell(figure.get('ratio'))} | {_cell(figure.get('target'))} |"
            )
        if result["status"] != "ok":
            lines.append(f"| {result['benchmark']} | **{result['status']}** | | | | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="benchmark names (e.g. settlement)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()

    scripts = sorted((ROOT / "scripts").glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
        if not scripts:
            parser.error(f"no benchmark named {', '.join(args.only)}")
    OUT.mkdir(exist_ok=True)
    results: list[dict[str, object]] = []
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        command = [sys.executable, str(script), *(QUICK_ARGS.get(name, []) if args.quick else [])]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        (OUT / f"{name}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        figures = parse_figures(proc.stdout)
        if figures and proc.returncode == 0:
            status = "ok"
        elif figures and proc.returncode == 1:
            status = "target missed"  # the script measured, and says a target was not met
        else:
            status = f"failed (exit {proc.returncode})"
        for figure in figures:
            print(
                f"   {figure['name']}: {figure['value']} {figure.get('unit', '')}"
                f" (baseline {figure.get('baseline')}, ratio {figure.get('ratio')})"
            )
        print(f"   {status} in {elapsed:.0f} s; log in bench/{name}.log", flush=True)
        results.append(
            {"benchmark": name, "status": status, "seconds": round(elapsed, 1), "figures": figures}
        )

    if args.only and (OUT / "results.json").is_file():
        # A partial run replaces its own benchmarks and keeps the others' last figures.
        earlier = json.loads((OUT / "results.json").read_text(encoding="utf-8"))["results"]
        ran = {r["benchmark"] for r in results}
        results = sorted(
            [r for r in earlier if r["benchmark"] not in ran] + results,
            key=lambda r: str(r["benchmark"]),
        )

    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": results,
    }
    (OUT / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (OUT / "results.md").write_text(markdown_table(results), encoding="utf-8")
    print("\nwrote bench/results.json and bench/results.md")
    failed = [r["benchmark"] for r in results if str(r["status"]).startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
