"""Print "TRIAL LABEL" for each complete trial of a tuner study's report.json, the winner first:
the label names its int4 options (trial-3-b128-graphs-winner), for session.sh's tuner_decode stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(report_path: str) -> int:
    report = json.loads(Path(report_path).read_text())
    rows = [r for r in report["rows"] if r["state"] == "complete"]
    rows.sort(key=lambda r: r["number"] != report.get("winner"))
    for r in rows:
        p = r["params"]
        label = f"trial-{r['number']}-b{p.get('build.block_size')}"
        label += "-graphs" if p.get("build.enable_cuda_graph") else "-nographs"
        label += "-winner" if r["number"] == report.get("winner") else ""
        print(r["number"], label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
