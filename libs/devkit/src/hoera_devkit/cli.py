"""hoera-dev: development helpers.

hoera-dev token --demo | --sub NAME --role ROLE [--team T] ...   tokens signed with the development key
"""

from __future__ import annotations

import sys

from hoera_devkit.tokens import token_command


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["token"]:
        return token_command(args[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
