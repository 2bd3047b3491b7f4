"""``python -m trinity_core.guardian heal page.html -o out.html``: what ``trinity heal --guardian`` runs."""

from __future__ import annotations

import argparse
import json
import sys

from trinity_core.guardian import DEFAULT_WIDTHS, Guardian, GuardianError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trinity heal --guardian")
    sub = parser.add_subparsers(dest="command", required=True)
    heal = sub.add_parser("heal", help="heal a page until it fits every width")
    heal.add_argument("input")
    heal.add_argument("-o", "--output", default="-")
    heal.add_argument("--rounds", type=int, default=3)
    heal.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)))
    heal.add_argument("--report", action="store_true", help="print the findings and fixes as JSON on stderr")
    args = parser.parse_args(argv)
    with open(args.input, "rb") as f:
        raw = f.read()
    try:
        html = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"trinity heal: {args.input}: not valid UTF-8 ({e})", file=sys.stderr)
        return 2
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    try:
        with Guardian(widths=widths) as g:
            result = g.heal(html, max_rounds=args.rounds)
    except GuardianError as e:
        print(f"trinity heal: {e}", file=sys.stderr)
        return 3
    if args.output == "-":
        sys.stdout.write(result.html)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(result.html)
    last = result.rounds[-1]
    if args.report:
        report = {"clean": result.clean, "fixes": result.fixes, "findings": last.findings}
        print(json.dumps(report, indent=2), file=sys.stderr)
    status = "clean" if result.clean else "still overflows"
    print(
        f"trinity heal: {len(result.fixes)} fixes, {len(result.rounds)} checks, {status} at {widths}",
        file=sys.stderr,
    )
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
