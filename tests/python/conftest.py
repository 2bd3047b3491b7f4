import sys
from pathlib import Path

# scripts/tiktoken_offline.py gives the real tiktoken its rank files without a download.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import os  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402


def pytest_sessionstart(session: object) -> None:
    # make test-wheel-installed: the suite must run against the wheel installed in site-packages,
    # never against this checkout's python/ directory.
    if os.environ.get("TRINITY_EXPECT_INSTALLED"):
        import trinity_core

        location = Path(trinity_core.__file__).resolve()
        assert "site-packages" in location.parts, f"trinity_core imported from {location}, not an installed wheel"


def ticks_during(work: Callable[[], object]) -> int:
    """How far a Python thread counts while `work` runs: near zero if `work` holds the GIL."""
    ticks = 0
    running = threading.Event()
    done = threading.Event()

    def spin() -> None:
        nonlocal ticks
        running.set()
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    running.wait()
    try:
        before = ticks
        work()
        return ticks - before
    finally:
        done.set()
        t.join()
