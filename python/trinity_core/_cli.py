"""The `trinity` console script: the Rust CLI (crate cli/, the same code as the `trinity` binary)
run through the extension module, so the wheel ships one CLI implementation, not a second one."""

from __future__ import annotations

import os
import sys

from trinity_core import _native


def main() -> None:
    # `trinity heal --guardian` runs `python -m trinity_core.guardian`: this interpreter, which has
    # the package (and the [guardian] extra, when installed) rather than whatever `python3` is first on PATH.
    os.environ.setdefault("TRINITY_PYTHON", sys.executable)
    sys.exit(_native.run_cli(["trinity", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
