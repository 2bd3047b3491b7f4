#!/usr/bin/env python3
"""Fail when the workspace would compile a dependency more than once in one profile.

Replays the cargo selections `make test` and `make demo` make (the core's and the CLI's tests,
the Python extension as maturin builds it, the Node addon as scripts/napi-cargo builds it, the C
library, the header generator, the CLI) through `cargo build --unit-graph`, which plans a build
without running it, and counts compilation units: a dependency that two selections plan with
different features, flags or dependencies is compiled twice. tools/workspace-hack keeps them
alike. (--unit-graph is a nightly flag; RUSTC_BOOTSTRAP=1 lets stable cargo print the plan.)
"""

import hashlib
import json
import os
import subprocess
import sys

SELECTIONS = [
    ("core + CLI tests", ["test", "--no-run", "-p", "trinity-core", "-p", "trinity-cli"]),
    ("Python extension", ["build", "-p", "trinity-python", "--lib"]),
    ("Node addon", ["build", "-p", "trinity-node", "--lib"]),
    ("C library", ["build", "-p", "trinity-c"]),
    ("C tests", ["test", "--no-run", "-p", "trinity-c"]),
    ("header generator", ["build", "-p", "gen-header"]),
    ("CLI", ["build", "-p", "trinity-cli"]),
    ("mock-server tests", ["test", "--no-run", "-p", "trinity-core", "--test", "mock_server"]),
]


def plan(args: list[str], profile_args: list[str]) -> list[dict]:
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    out = subprocess.run(
        ["cargo", *args, *profile_args, "-q", "--unit-graph", "-Z", "unstable-options"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out)["units"]


def unit_ids(units: list[dict]) -> list[str]:
    memo: dict[int, str] = {}

    def uid(i: int) -> str:
        if i not in memo:
            u = units[i]
            profile = {k: v for k, v in u["profile"].items() if k != "name"}
            deps = sorted(uid(d["index"]) for d in u["dependencies"])
            key = [
                u["pkg_id"],
                u["target"]["name"],
                u["target"]["kind"],
                u["mode"],
                u["features"],
                profile,
                u["platform"],
                deps,
            ]
            memo[i] = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return memo[i]

    return [uid(i) for i in range(len(units))]


def main() -> int:
    profile_args = sys.argv[1:]  # e.g. --release
    seen: dict[str, dict] = {}
    built: dict[tuple, set[str]] = {}
    total = 0
    for name, args in SELECTIONS:
        units = plan(args, profile_args)
        new = 0
        for uid, u in zip(unit_ids(units), units, strict=True):
            if uid in seen or u["pkg_id"].startswith("path+file") or u["mode"] == "run-custom-build":
                continue
            new += 1
            seen[uid] = u
            built.setdefault((u["pkg_id"].split("#")[-1], u["target"]["name"], u["mode"]), set()).add(uid)
        total += new
        print(f"  {name:18s} {new:4d} dependency units to compile")
    twice = sorted(f"{pkg} ({target})" for (pkg, target, _), ids in built.items() if len(ids) > 1)
    print(
        f"one-build: {total} dependency compilations, {len(built)} distinct units, {len(twice)} compiled more than once"
    )
    if twice:
        print(
            "compiled more than once (align their features in tools/workspace-hack/Cargo.toml):\n  "
            + "\n  ".join(twice)
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
