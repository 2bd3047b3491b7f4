"""Fails unless every named language replayed every case in tests/fixtures/*.json.

Each language's runner writes target/conformance/<language>.json listing the case ids it
passed; a case missing from any list is a silent skip and fails the build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(languages: list[str]) -> int:
    cases: set[str] = set()
    for f in sorted((ROOT / "tests" / "fixtures").glob("*.json")):
        doc = json.loads(f.read_text())
        if isinstance(doc, dict) and "cases" in doc:
            cases |= {c["id"] for c in doc["cases"]}
    failed = 0
    for lang in languages:
        report = ROOT / "target" / "conformance" / f"{lang}.json"
        if not report.exists():
            print(f"conformance: {lang}: no report at {report}")
            failed += 1
            continue
        passed = set(json.loads(report.read_text())["passed"])
        missing = sorted(cases - passed)
        if missing:
            print(f"conformance: {lang}: {len(missing)} case(s) not run: {missing[:5]}")
            failed += 1
        else:
            print(f"conformance: {lang}: all {len(cases)} cases")
    print(f"conformance: {len(languages) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
