"""The benchmark runner collects each script's JSON figure lines into one table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run_benchmarks.py"
spec = importlib.util.spec_from_file_location("run_benchmarks", SCRIPT)
assert spec and spec.loader
run_benchmarks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_benchmarks)


def test_only_json_objects_with_a_name_and_value_are_figures() -> None:
    output = "\n".join(
        [
            "warming up",
            '{"name": "obligations/s", "value": 212.0, "unit": "1/s", "baseline": 12.2,'
            ' "ratio": 17.4, "target": ">= 10x"}',
            '{"progress": 3}',
            "{not json}",
            '  {"name": "gas", "value": 29262}  ',
        ]
    )

    figures = run_benchmarks.parse_figures(output)

    assert [f["name"] for f in figures] == ["obligations/s", "gas"]
    assert figures[0]["ratio"] == 17.4


def test_the_markdown_table_has_one_row_per_figure_and_flags_failures() -> None:
    results = [
        {
            "benchmark": "settlement",
            "status": "ok",
            "figures": [
                {
                    "name": "gas | propose",
                    "value": 29262,
                    "unit": "gas",
                    "baseline": 60440,
                    "ratio": 0.484,
                    "target": "<= 30000",
                },
            ],
        },
        {"benchmark": "dispatch", "status": "failed (exit 1)", "figures": []},
    ]

    table = run_benchmarks.markdown_table(results).splitlines()

    assert table[2] == ("| settlement | gas \\| propose | 29,262 gas | 60,440 | 0.484 | <= 30000 |")
    assert table[3] == "| dispatch | **failed (exit 1)** | | | | |"
