"""``python -m vcodec.train run|export|report ...``: the train command without the main CLI."""

import argparse
import sys

from vcodec.errors import VcodecError
from vcodec.train.cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vcodec.train")
    add_parser(parser.add_subparsers(dest="command", required=True))
    # Accept the actions with or without the leading "train", as `vcodec train ...` spells them.
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "train":
        argv.insert(0, "train")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VcodecError as e:
        print(f"vcodec: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
