"""Give OpenAI's tiktoken its BPE rank files without a download.

tiktoken reads its rank files through a cache keyed by the SHA-1 of their URL and checks
their SHA-256. The same files ship, gzipped, inside the `bpe-openai` crate our core
depends on; this module places them in a cache directory under `target/` so that tests and
benchmarks compare against the real tiktoken, verified by its own hash check.

    from tiktoken_offline import get_encoding
    enc = get_encoding("o200k_base")
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "target" / "tiktoken-cache"
ENCODINGS = ("cl100k_base", "o200k_base")


def _crate_data_dir() -> Path:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--manifest-path", str(ROOT / "Cargo.toml")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    for pkg in meta["packages"]:
        if pkg["name"] == "bpe-openai":
            return Path(pkg["manifest_path"]).parent / "data"
    raise RuntimeError("bpe-openai is not in the cargo dependency graph")


def _blob_url(name: str) -> tuple[str, str]:
    """The URL and SHA-256 tiktoken's own constructor asks for."""
    import tiktoken.load
    from tiktoken_ext import openai_public

    seen: dict[str, str] = {}
    original = tiktoken.load.load_tiktoken_bpe

    def capture(path: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen["url"], seen["hash"] = path, expected_hash or ""
        return {}

    openai_public.load_tiktoken_bpe = capture  # type: ignore[assignment]
    try:
        getattr(openai_public, name)()
    finally:
        openai_public.load_tiktoken_bpe = original  # type: ignore[assignment]
    return seen["url"], seen["hash"]


def prepare() -> Path:
    """Fills the cache (once) and points tiktoken at it. Returns the cache directory."""
    CACHE.mkdir(parents=True, exist_ok=True)
    data_dir = None
    for name in ENCODINGS:
        url, sha256 = _blob_url(name)
        target = CACHE / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            data_dir = data_dir or _crate_data_dir()
            raw = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
            if hashlib.sha256(raw).hexdigest() != sha256:
                raise RuntimeError(f"{name}: the crate's rank file differs from tiktoken's")
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(raw)
            tmp.replace(target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(CACHE)
    return CACHE


def get_encoding(name: str):  # -> tiktoken.Encoding
    prepare()
    import tiktoken

    return tiktoken.get_encoding(name)


if __name__ == "__main__":
    for n in ENCODINGS:
        enc = get_encoding(n)
        print(n, enc.n_vocab, len(enc.encode("hello world <|endoftext|>", disallowed_special=())))
