"""``asrtl <recipe> key=value ...`` (the console script) and ``python -m asrtl.recipes
<recipe> ...``: one command for every recipe, from any directory."""

from __future__ import annotations

import sys

from asrtl.recipes import NAMES, run

USAGE = f"usage: asrtl <recipe> [key=value ...]; recipes: {', '.join(NAMES)}"


def main() -> None:
    """Dispatches ``sys.argv[1]`` to its recipe; an unknown one fails in one line (exit 2)."""
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    name, rest = args[0], args[1:]
    if name not in NAMES:
        print(f"error: unknown recipe {name!r}; recipes: {', '.join(NAMES)}", file=sys.stderr)
        sys.exit(2)
    sys.argv = [f"asrtl {name}", *rest]
    run(name)


if __name__ == "__main__":
    main()
