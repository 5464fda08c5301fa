"""``tessel serve``: runs the C++ model server, tessel-serve (docs/serving.md).

The server is a separate executable so that no Python (and no GIL) sits on the
request path; this module only finds it and replaces the current process with it.
"""
import os
import shutil
import sys
from pathlib import Path

__all__ = ["find_server", "main"]


def find_server():
    """Path of the tessel-serve executable.

    Looked up in order: $TESSEL_SERVE_BIN; ``tessel/bin`` next to the installed
    package (where the wheel puts it); ``$TESSEL_BUILD_DIR/src/serve`` (a build
    tree); then ``PATH``. Raises FileNotFoundError when none has it.
    """
    candidates = []
    if os.environ.get("TESSEL_SERVE_BIN"):
        candidates.append(Path(os.environ["TESSEL_SERVE_BIN"]))
    candidates.append(Path(__file__).resolve().parent.parent / "bin" / "tessel-serve")
    if os.environ.get("TESSEL_BUILD_DIR"):
        candidates.append(Path(os.environ["TESSEL_BUILD_DIR"]) / "src" / "serve" / "tessel-serve")
    on_path = shutil.which("tessel-serve")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    raise FileNotFoundError(
        "tessel-serve was not found (looked in: " + ", ".join(str(c) for c in candidates) +
        "); it is built with the package unless CMake ran with -DTESSEL_WITH_SERVE=OFF")


def main(argv=None):
    """Replaces this process with ``tessel-serve ARGV...`` (signals then reach the server directly)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        binary = find_server()
    except FileNotFoundError as e:
        print(f"tessel serve: {e}", file=sys.stderr)
        return 1  # a failure, not a usage error (the CLI's convention: 2 is for bad arguments)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary] + args)


if __name__ == "__main__":
    sys.exit(main())
