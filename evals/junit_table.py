"""Print one line per test from pytest junit XML files (outcome, seconds, first line of the
failure) and write them as JSON: how a GPU test batch reports back in a few lines.

    python evals/junit_table.py OUT/phase1.xml OUT/phase2.xml --json OUT/summary.json
A pytest process that did not finish (killed, crashed) writes no XML; it is listed as missing.
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path


def cases(path: Path) -> list[dict[str, object]]:
    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (found.get("message") or found.text or "").strip().splitlines()[:1]
                message = message[0][:240] if message else ""
                break
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        rows.append({"test": name, "outcome": outcome, "seconds": round(float(case.get("time", 0)), 1),
                     "message": message, "file": path.name})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xml", nargs="+", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    missing = [str(p) for p in args.xml if not p.exists()]
    for path in args.xml:
        if path.exists():
            rows.extend(cases(path))
    for row in rows:
        print(f"{row['outcome']:8} {row['seconds']:7.1f}s {row['test']}  {row['message']}")
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("passed", "failed", "error", "skipped")}
    print("total:", counts, "missing (the pytest process did not finish):", missing or "none")
    if args.json:
        args.json.write_text(json.dumps({"counts": counts, "missing": missing, "tests": rows}, indent=1))


if __name__ == "__main__":
    main()
