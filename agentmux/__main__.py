"""`main(argv) -> int`: the one place that turns exceptions into messages and exit codes."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
