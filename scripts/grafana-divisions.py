#!/usr/bin/env python3
"""Writes the county and township variables of the Grafana dashboards (deploy/grafana/dashboards) from
alerting/data/division-names.csv: custom variables of `name : code` pairs, so Grafana shows 渝北区 and
queries 500112. Run it after the division table changes; tests/deploy_dashboards fails while they differ.

    python3 scripts/grafana-divisions.py
"""
import csv
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES = ROOT / "alerting/data/division-names.csv"
DASHBOARDS = ROOT / "deploy/grafana/dashboards"


def divisions():
    with NAMES.open(encoding="utf-8") as f:
        rows = [(r["code"], r["name"].strip()) for r in csv.DictReader(f)]
    names = dict(rows)
    counties = sorted((c, n) for c, n in rows if len(c) == 6)
    townships = sorted((c, f"{names.get(c[:6], c[:6])} {n}") for c, n in rows if len(c) == 9)
    return counties, townships


def custom(pairs):
    return ", ".join(f"{text} : {code}" for code, text in pairs)


def main():
    counties, townships = divisions()
    lists = {"county": custom(counties), "township": custom(townships)}
    for path in sorted(DASHBOARDS.glob("*.json")):
        dash = json.loads(path.read_text(encoding="utf-8"))
        changed = False
        for var in dash.get("templating", {}).get("list", []):
            if var.get("name") in lists and var.get("type") == "custom":
                var["query"] = lists[var["name"]]
                var["options"] = []
                changed = True
        if changed:
            path.write_text(json.dumps(dash, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
