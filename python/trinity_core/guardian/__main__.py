"""``python -m trinity_core.guardian heal page.html -o out.html`` or ``heal SITE_DIR [-o OUT_DIR]``:
what ``trinity heal --guardian`` runs.

A site directory is healed page by page with its assets in place (stylesheets, images and fonts
load from the site; root-relative links resolve against SITE_DIR): in place, or into a copy of
the whole site at ``-o OUT_DIR``. Pages that fit are not rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from trinity_core import TrinityError
from trinity_core.guardian import DEFAULT_WIDTHS, Guardian, GuardianError, HealResult

PREVENTIVE = ("viewport", "safety_net", "grid")


def _options(text: str | None) -> dict[str, bool]:
    """``--options`` JSON: the opt-in preventive rules, each ``False`` unless given."""
    value = json.loads(text) if text else {}
    if not isinstance(value, dict) or set(value) - set(PREVENTIVE):
        raise ValueError(f"--options: the guardian takes only {', '.join(PREVENTIVE)}")
    return {k: bool(value.get(k, False)) for k in PREVENTIVE}


def _heal(g: Guardian, page: Path, root: str | Path | None, rounds: int, options: dict[str, bool]) -> HealResult:
    return g.heal(
        page,
        root=root,
        max_rounds=rounds,
        viewport=options["viewport"],
        safety_net=options["safety_net"],
        grid=options["grid"],
    )


def _summary(result: HealResult) -> dict[str, Any]:
    return {
        "clean": result.clean,
        "masked": result.masked,
        "fixes": result.fixes,
        "findings": result.rounds[-1].findings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trinity heal --guardian")
    sub = parser.add_subparsers(dest="command", required=True)
    heal = sub.add_parser("heal", help="heal a page, or every page of a site, until it fits every width")
    heal.add_argument("input", help="a page (.html) or a site directory")
    heal.add_argument("-o", "--output", default=None, help="page: file ('-' = stdout); site: directory")
    heal.add_argument("--rounds", type=int, default=3)
    heal.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)))
    heal.add_argument("--root", default=None, help="the site root a page's root-relative links resolve against")
    heal.add_argument("--options", default=None, help='opt-in preventive rules, e.g. {"viewport": true}')
    heal.add_argument("--report", action="store_true", help="print the findings and fixes as JSON on stderr")
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    source = Path(args.input)
    try:
        options = _options(args.options)
        with Guardian(widths=widths) as g:
            if source.is_dir():
                return _site(g, source, Path(args.output) if args.output else None, args, options)
            result = _heal(g, source, args.root, args.rounds, options)
    except (GuardianError, TrinityError, ValueError) as e:
        print(f"trinity heal: {e}", file=sys.stderr)
        return 3 if isinstance(e, GuardianError) else 2
    if args.output in (None, "-"):
        sys.stdout.write(result.html)
    else:
        Path(args.output).write_text(result.html, encoding="utf-8")
    if args.report:
        print(json.dumps(_summary(result), indent=2), file=sys.stderr)
    status = "clean" if result.clean else "still overflows"
    print(
        f"trinity heal: {len(result.fixes)} fixes, {len(result.rounds)} checks, {status} at {widths}",
        file=sys.stderr,
    )
    return 0 if result.clean else 1


def _site(g: Guardian, site: Path, out: Path | None, args: argparse.Namespace, options: dict[str, bool]) -> int:
    if out is not None:
        shutil.copytree(site, out, dirs_exist_ok=True)
    pages = sorted(p for p in site.rglob("*") if p.suffix.lower() in (".html", ".htm") and p.is_file())
    report, changed, failing = {}, 0, []
    for page in pages:
        result = _heal(g, page, site, args.rounds, options)
        rel = page.relative_to(site).as_posix()
        report[rel] = _summary(result)
        if result.html != page.read_text(encoding="utf-8"):
            changed += 1
            (out / rel if out is not None else page).write_text(result.html, encoding="utf-8")
        if not result.clean:
            failing.append(rel)
        print(
            f"trinity heal: {rel}: {len(result.fixes)} fixes, {'clean' if result.clean else 'still overflows'}",
            file=sys.stderr,
        )
    if args.report:
        print(json.dumps(report, indent=2), file=sys.stderr)
    print(f"trinity heal: {len(pages)} pages, {changed} changed, {len(failing)} still overflow", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
