#!/usr/bin/env python3
"""Lay out the installable artifacts from built libraries: the C tarball, the npm packages, the Go
module (as a file-based module proxy), licences and a CycloneDX SBOM; check artifact sizes.

`make dist` runs it on release builds (into dist/), `make test-packages` on the dev builds the
tests already made (into target/packages/), so the tests install exactly what ships.

Every file it writes is reproducible: entries sorted, owners 0, times from SOURCE_DATE_EPOCH
(default: the time of the last commit), gzip headers without a time or name.

    package.py c      --libdir target/release --out dist
    package.py npm    --addon target/release/libtrinity_node.so --out dist
    package.py go     --staticlib target/release/libtrinity.a --out target/goproxy
    package.py notices --crate trinity-c --out DIR      (THIRD-PARTY-LICENSES.txt + sbom.cdx.json)
    package.py sizes  --check packaging/sizes.json FILE...   (--record to rewrite the record)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
TRIPLE = "x86_64-linux-gnu"
NPM_PLATFORM = "linux-x64-gnu"
NPM_ROOT_NAME = "@pi-builder/core"
NPM_PLATFORM_NAME = f"{NPM_ROOT_NAME}-{NPM_PLATFORM}"
GO_MODULE = "example.invalid/trinity-core/bindings/go"
# What a Rust staticlib needs from the C runtime on linux-gnu (`rustc --print native-static-libs`);
# the static-link tests (C and Go) fail if one is missing.
NATIVE_STATIC_LIBS = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
OUR_LICENSES = ["LICENSE-MIT", "LICENSE-APACHE"]


def version() -> str:
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]


def abi_major() -> str:
    for line in (ROOT / "include" / "trinity.h").read_text().splitlines():
        if line.startswith("#define TRINITY_ABI_VERSION "):
            return line.split()[2]
    sys.exit("include/trinity.h has no TRINITY_ABI_VERSION")


def source_date_epoch() -> int:
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    out = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


# ---------------------------------------------------------------------------------------------
# Reproducible archives


def write_tar_gz(src_dir: Path, dest: Path, arcroot: str) -> None:
    """tar.gz of src_dir under arcroot/: sorted, uid/gid 0, mtime SOURCE_DATE_EPOCH, no gzip time."""
    epoch = source_date_epoch()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (
        dest.open("wb") as out,
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        paths = sorted(src_dir.rglob("*"), key=lambda p: p.relative_to(src_dir).as_posix())
        for path in [src_dir, *paths]:
            rel = path.relative_to(src_dir).as_posix()
            name = arcroot if rel == "." else f"{arcroot}/{rel}"
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = epoch
            info.pax_headers = {}
            if info.isreg():
                info.mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                if info.isdir():
                    info.mode = 0o755
                tar.addfile(info)


def zip_entry(name: str, epoch: int, mode: int = 0o644) -> zipfile.ZipInfo:
    import time

    # Zip times are local-time fields with a 1980 floor.
    t = time.gmtime(max(epoch, 315532800))
    info = zipfile.ZipInfo(name, date_time=t[:6])
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


# ---------------------------------------------------------------------------------------------
# Licences and SBOM


def cargo_metadata() -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", "x86_64-unknown-linux-gnu"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def bundled_packages(meta: dict, crate: str) -> list[dict]:
    """Packages linked into `crate`'s library: normal dependencies, transitively, without
    build-only ones (build scripts, proc-macros) and without the workspace's own crates."""
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == crate and p["source"] is None)
    seen: set[str] = set()
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            if not any(k["kind"] is None for k in dep["dep_kinds"]):
                continue
            # Its dependencies only align features; what is linked is reached through the others.
            if pkgs[dep["pkg"]]["name"] == "trinity-workspace-hack":
                continue
            target_kinds = {k for t in pkgs[dep["pkg"]]["targets"] for k in t["kind"]}
            if "proc-macro" in target_kinds:
                continue
            stack.append(dep["pkg"])
    bundled = [pkgs[i] for i in seen if pkgs[i]["source"] is not None]
    return sorted(bundled, key=lambda p: (p["name"], p["version"]))


def license_files(pkg: dict) -> list[Path]:
    d = Path(pkg["manifest_path"]).parent
    found = [
        p
        for p in d.iterdir()
        if p.is_file() and p.name.upper().startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE"))
    ]
    if pkg.get("license_file"):
        found.append(d / pkg["license_file"])
    return sorted(set(found))


def lock_checksums() -> dict[tuple[str, str], str]:
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    return {(p["name"], p["version"]): p["checksum"] for p in lock["package"] if "checksum" in p}


def cmd_notices(args: argparse.Namespace) -> None:
    meta = cargo_metadata()
    pkgs = bundled_packages(meta, args.crate)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUR_LICENSES:
        shutil.copyfile(ROOT / name, out / name)

    # Each distinct licence text once, with the crates that ship it.
    texts: dict[str, list[str]] = {}
    crate_lines = []
    missing = []
    for p in pkgs:
        refs = []
        for f in license_files(p):
            text = f.read_text(errors="replace").strip()
            texts.setdefault(text, []).append(f"{p['name']} {p['version']} ({f.name})")
            refs.append(str(list(texts).index(text) + 1))
        if not refs:
            missing.append(p["name"])
        crate_lines.append(
            f"{p['name']} {p['version']}: {p.get('license') or 'see text'}"
            + (f" [text {', '.join(refs)}]" if refs else " [no licence file in the crate]")
        )
    lines = [
        f"Third-party software bundled in {args.name} {version()}: the Rust crates linked into the library.",
        f"{len(pkgs)} crates with their licence expressions, then every distinct licence text they ship.",
        "",
        *crate_lines,
    ]
    for i, (text, users) in enumerate(texts.items(), 1):
        lines += ["", "=" * 100, f"[text {i}] shipped by: {'; '.join(users)}", "-" * 100, text]
    (out / "THIRD-PARTY-LICENSES.txt").write_text("\n".join(lines) + "\n")

    checksums = lock_checksums()
    epoch = source_date_epoch()
    import datetime

    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    components = []
    for p in pkgs:
        comp = {
            "type": "library",
            "bom-ref": f"pkg:cargo/{p['name']}@{p['version']}",
            "name": p["name"],
            "version": p["version"],
            "purl": f"pkg:cargo/{p['name']}@{p['version']}",
        }
        if p.get("license"):
            comp["licenses"] = [{"expression": p["license"]}]
        if (p["name"], p["version"]) in checksums:
            comp["hashes"] = [{"alg": "SHA-256", "content": checksums[(p["name"], p["version"])]}]
        components.append(comp)
    root_ref = f"pkg:generic/{args.name}@{version()}"
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        # Derived from what the SBOM describes, so the same commit gives the same file.
        "serialNumber": "urn:uuid:"
        + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{root_ref}#{','.join(c['bom-ref'] for c in components)}")),
        "version": 1,
        "metadata": {
            "timestamp": stamp,
            "tools": {"components": [{"type": "application", "name": "trinity-core scripts/package.py"}]},
            "component": {
                "type": "library",
                "bom-ref": root_ref,
                "name": args.name,
                "version": version(),
                "licenses": [{"expression": "MIT OR Apache-2.0"}],
            },
        },
        "components": components,
        "dependencies": [{"ref": root_ref, "dependsOn": [c["bom-ref"] for c in components]}],
    }
    (out / "sbom.cdx.json").write_text(json.dumps(bom, indent=2, sort_keys=True) + "\n")
    print(f"notices: {len(pkgs)} bundled crates for {args.name} -> {out}/THIRD-PARTY-LICENSES.txt, sbom.cdx.json")
    if missing:
        print(f"notices: {len(missing)} crates ship no licence file ({', '.join(missing)}); their expression is listed")


# ---------------------------------------------------------------------------------------------
# C: libtrinity tarball and `make install`


def pc_file(prefix: str) -> str:
    return f"""prefix={prefix}
libdir=${{prefix}}/lib
includedir=${{prefix}}/include

Name: trinity
Description: trinity-core C library: LLM client, token counts, model registry, cache, resilience (JSON in, JSON out)
URL: https://example.invalid/trinity-core
Version: {version()}
Libs: -L${{libdir}} -ltrinity
Libs.private: {NATIVE_STATIC_LIBS}
Cflags: -I${{includedir}}
"""


def stage_c(libdir: Path, dest: Path, strip: bool) -> None:
    ver = version()
    so = libdir / "libtrinity.so"
    a = libdir / "libtrinity.a"
    for f in (so, a):
        if not f.exists():
            sys.exit(f"{f} is missing: build the C library first (cargo build -p trinity-c)")
    soname = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    want = f"libtrinity.so.{abi_major()}"
    if f"[{want}]" not in soname:
        sys.exit(f"{so} lacks the SONAME {want}")
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "lib" / "pkgconfig").mkdir(parents=True)
    (dest / "include").mkdir()
    real = dest / "lib" / f"libtrinity.so.{ver}"
    shutil.copyfile(so, real)
    shutil.copyfile(a, dest / "lib" / "libtrinity.a")
    if strip:
        subprocess.run(["strip", "--strip-unneeded", str(real)], check=True)
        subprocess.run(["strip", "--strip-debug", str(dest / "lib" / "libtrinity.a")], check=True)
    real.chmod(0o755)
    os.symlink(real.name, dest / "lib" / want)
    os.symlink(want, dest / "lib" / "libtrinity.so")
    shutil.copyfile(ROOT / "include" / "trinity.h", dest / "include" / "trinity.h")
    # Relocatable: the prefix is wherever the .pc file sits, two levels up.
    (dest / "lib" / "pkgconfig" / "trinity.pc").write_text(pc_file("${pcfiledir}/../.."))


def cmd_c(args: argparse.Namespace) -> None:
    out = Path(args.out)
    name = f"libtrinity-{version()}-{TRIPLE}"
    stage = out / "stage" / name
    stage_c(Path(args.libdir), stage, args.strip)
    doc = stage / "share" / "doc" / "trinity"
    doc.mkdir(parents=True)
    ns = argparse.Namespace(crate="trinity-c", name="libtrinity", out=str(doc))
    cmd_notices(ns)
    tarball = out / f"{name}.tar.gz"
    write_tar_gz(stage, tarball, name)
    print(f"c: {tarball} ({tarball.stat().st_size / 1e6:.1f} MB)")


def cmd_install(args: argparse.Namespace) -> None:
    """make install: copy the staged tree under DESTDIR/PREFIX (symlinks kept)."""
    src = Path(args.stage)
    dest = Path(args.destdir + args.prefix) if args.destdir else Path(args.prefix)
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        target = dest / rel
        if path.is_dir() and not path.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if path.is_symlink():
            os.symlink(os.readlink(path), target)
        else:
            shutil.copy2(path, target)
    print(f"install: {src.name} -> {dest}")


# ---------------------------------------------------------------------------------------------
# npm: the root package and the platform package, as napi-rs lays them out


def npm_pack(pkg_dir: Path, out: Path) -> Path:
    res = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(out.resolve())],
        cwd=pkg_dir,
        check=True,
        capture_output=True,
        text=True,
    )
    return out / json.loads(res.stdout)[0]["filename"]


def cmd_npm(args: argparse.Namespace) -> None:
    ver = version()
    out = Path(args.out)
    stage = out / "stage" / "npm"
    if stage.exists():
        shutil.rmtree(stage)
    root_pkg = json.loads((ROOT / "package.json").read_text())
    if root_pkg["version"] != ver:
        sys.exit(f"package.json version {root_pkg['version']} != Cargo workspace version {ver}")

    # Platform package: the addon alone.
    plat = stage / NPM_PLATFORM
    plat.mkdir(parents=True)
    addon = f"trinity.{NPM_PLATFORM}.node"
    shutil.copyfile(args.addon, plat / addon)
    if args.strip:
        subprocess.run(["strip", "--strip-unneeded", str(plat / addon)], check=True)
    cmd_notices(argparse.Namespace(crate="trinity-node", name=NPM_PLATFORM_NAME, out=str(plat)))
    (plat / "README.md").write_text(
        f"# {NPM_PLATFORM_NAME}\n\nThe native addon of [{NPM_ROOT_NAME}](https://example.invalid/trinity-core) "
        f"for Linux x64 (glibc). Install `{NPM_ROOT_NAME}`, which depends on this package.\n"
    )
    (plat / "package.json").write_text(
        json.dumps(
            {
                "name": NPM_PLATFORM_NAME,
                "version": ver,
                "description": f"{NPM_ROOT_NAME} native addon for Linux x64 (glibc)",
                "license": root_pkg["license"],
                "repository": root_pkg["repository"],
                "os": ["linux"],
                "cpu": ["x64"],
                "libc": ["glibc"],
                "main": addon,
                "files": [addon, "THIRD-PARTY-LICENSES.txt", "sbom.cdx.json", *OUR_LICENSES],
                "engines": root_pkg.get("engines", {}),
            },
            indent=2,
        )
        + "\n"
    )

    # Root package: JS, types, the loader; the addon comes from the platform package.
    core = stage / "core"
    core.mkdir(parents=True)
    files = root_pkg["files"]
    for pattern in files:
        found = sorted(ROOT.glob(pattern))
        if not found:
            sys.exit(f"npm: nothing matches package.json files entry {pattern!r} (is the TypeScript built?)")
        for f in found:
            dst = core / f.relative_to(ROOT)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dst)
    for name in OUR_LICENSES:
        shutil.copyfile(ROOT / name, core / name)
    # npm shows the Node README; the project README (all languages) is too big to ship in it.
    shutil.copyfile(ROOT / "node" / "README.md", core / "README.md")
    if list(core.rglob("*.node")):
        sys.exit("the root package would ship an addon: package.json files must not list *.node")
    publish = {k: v for k, v in root_pkg.items() if k not in ("devDependencies", "scripts")}
    publish["files"] = [*files, *OUR_LICENSES]
    publish["optionalDependencies"] = {NPM_PLATFORM_NAME: ver}
    (core / "package.json").write_text(json.dumps(publish, indent=2) + "\n")

    out.mkdir(parents=True, exist_ok=True)
    for d in (core, plat):
        # npm pack stamps every entry with a fixed date; only the content decides the bytes.
        tgz = npm_pack(d, out)
        print(f"npm: {tgz} ({tgz.stat().st_size / 1e3:.0f} kB)")


# ---------------------------------------------------------------------------------------------
# Go: the module with a prebuilt static library (laid out as wasmtime-go does), served from a
# file-based module proxy (GOPROXY=file://...)


def go_escape(path: str) -> str:
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def cmd_go(args: argparse.Namespace) -> None:
    ver = "v" + version()
    epoch = source_date_epoch()
    src = ROOT / "bindings" / "go"
    gomod = (src / "go.mod").read_text()
    if not gomod.startswith(f"module {GO_MODULE}\n"):
        sys.exit(f"bindings/go/go.mod must declare module {GO_MODULE}")
    staticlib = Path(args.staticlib)
    lib_bytes = staticlib.read_bytes()
    if args.strip:
        tmp = Path(args.out) / "libtrinity.a.tmp"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staticlib, tmp)
        subprocess.run(["strip", "--strip-debug", str(tmp)], check=True)
        lib_bytes = tmp.read_bytes()
        tmp.unlink()

    entries: dict[str, bytes] = {}
    for f in sorted(src.iterdir()):
        if f.is_file() and (f.suffix in (".go", ".mod", ".sum") or f.name in ("README.md",)):
            entries[f.name] = f.read_bytes()
    entries["include/trinity.h"] = (ROOT / "include" / "trinity.h").read_bytes()
    entries["include/include.go"] = (src / "include" / "include.go").read_bytes()
    entries["lib/linux-amd64/libtrinity.a"] = lib_bytes
    entries["lib/linux-amd64/lib.go"] = (src / "lib" / "linux-amd64" / "lib.go").read_bytes()
    for name in OUR_LICENSES:
        entries[name] = (ROOT / name).read_bytes()
    # Go modules want one LICENSE file at the root for pkg.go.dev; the dual licence text.
    entries["LICENSE"] = (ROOT / "LICENSE-MIT").read_bytes() + b"\n\n" + (ROOT / "LICENSE-APACHE").read_bytes()

    proxy = Path(args.out) / go_escape(GO_MODULE) / "@v"
    if proxy.exists():
        shutil.rmtree(proxy)
    proxy.mkdir(parents=True)
    buf = io.BytesIO()
    prefix = f"{GO_MODULE}@{ver}/"
    with zipfile.ZipFile(buf, "w") as z:
        for name in sorted(entries):
            z.writestr(zip_entry(prefix + name, epoch), entries[name])
    (proxy / f"{ver}.zip").write_bytes(buf.getvalue())
    (proxy / f"{ver}.mod").write_text(gomod)
    import datetime

    when = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    (proxy / f"{ver}.info").write_text(json.dumps({"Version": ver, "Time": when}) + "\n")
    (proxy / "list").write_text(ver + "\n")
    print(f"go: {GO_MODULE}@{ver} -> {proxy} ({len(buf.getvalue()) / 1e6:.1f} MB zip)")


# ---------------------------------------------------------------------------------------------
# Sizes


def cmd_sizes(args: argparse.Namespace) -> None:
    record_path = Path(args.record_file)
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    current = {}
    for f in args.files:
        p = Path(f)
        key = p.name.replace(version(), "VERSION")
        current[key] = p.stat().st_size
    if args.record:
        record.update(current)
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(dict(sorted(record.items())), indent=2) + "\n")
        for k, v in current.items():
            print(f"sizes: recorded {k} = {v / 1e6:.2f} MB")
        return
    failed = []
    for k, v in current.items():
        was = record.get(k)
        if was is None:
            failed.append(f"{k}: no recorded size (run make dist-record-sizes)")
            continue
        growth = (v - was) / was
        print(f"sizes: {k} {v / 1e6:.2f} MB (recorded {was / 1e6:.2f} MB, {growth:+.1%})")
        if growth > 0.10:
            failed.append(f"{k} grew {growth:.1%} over its recorded size ({was} -> {v} bytes)")
    if failed:
        sys.exit("size check failed:\n  " + "\n  ".join(failed))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cmd_checksums(args: argparse.Namespace) -> None:
    out = Path(args.out)
    lines = [f"{sha256(Path(f))}  {Path(f).name}" for f in sorted(args.files)]
    out.write_text("\n".join(lines) + "\n")
    print(f"checksums: {len(lines)} files -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("notices")
    p.add_argument("--crate", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_notices)
    p = sub.add_parser("c")
    p.add_argument("--libdir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--strip", action="store_true")
    p.set_defaults(func=cmd_c)
    p = sub.add_parser("install")
    p.add_argument("--stage", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--destdir", default="")
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("npm")
    p.add_argument("--addon", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--strip", action="store_true")
    p.set_defaults(func=cmd_npm)
    p = sub.add_parser("go")
    p.add_argument("--staticlib", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--strip", action="store_true")
    p.set_defaults(func=cmd_go)
    p = sub.add_parser("sizes")
    p.add_argument("--record-file", default=str(ROOT / "packaging" / "sizes.json"))
    p.add_argument("--record", action="store_true")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_sizes)
    p = sub.add_parser("checksums")
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_checksums)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
