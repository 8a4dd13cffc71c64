"""Markdown tables for README from the committed results: ``python -m pipeline.bench.report DIR``.

Reads every ``*.json`` under DIR (files written by ``run_pipeline.py bench``)
and prints one table per kind of result, each row naming its file and machine.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _machine(result: dict) -> str:
    m = result["machine"]
    cpu = m.get("cpu_id") or m["cpu"]          # cpu_id: family, model, vector extensions (older files lack it)
    return m["gpu"] or f"{m['cores']}-core {cpu.split('@')[0].strip()}"


def pipeline_rows(results: dict[str, dict]) -> list[str]:
    rows = ["| run | machine | model | engine | FPS | bare engine FPS | sequential FPS | pipeline/bare | "
            "pipeline/sequential | e2e p50 / p99 ms | dropped |", "|" + "---|" * 11]
    for name, r in results.items():
        if "baselines" not in r:
            continue
        s, b, e = r["settings"], r["baselines"], r["end_to_end"]
        rows.append(f"| `{name}` | {_machine(r)} | {s['model']} {s['size'] or ''} | {s['engine']} | "
                    f"{r['fps']:.1f} | {b['bare_engine_fps']:.1f} | {b['sequential_fps']:.1f} | "
                    f"{b['pipeline_over_bare']:.2f} | {b['pipeline_over_sequential']:.2f} | "
                    f"{e['p50_ms']:.1f} / {e['p99_ms']:.1f} | {r['dropped']} |")
    return rows


def main(folder: str) -> None:
    results = {p.relative_to(folder).as_posix(): json.loads(p.read_text())
               for p in sorted(Path(folder).rglob("*.json"))}
    print("\n".join(pipeline_rows(results)))
    for name, r in results.items():
        for key in ("transport", "decode_nms", "bare_engines", "scaling", "overload", "r50_latency", "side_branch"):
            if key in r:
                print(f"\n`{name}` {key}: {json.dumps(r[key])[:600]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results")
