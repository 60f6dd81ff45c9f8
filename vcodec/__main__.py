"""``python -m vcodec``: the vcodec command."""

from vcodec.cli.main import run

run()
