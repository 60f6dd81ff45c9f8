"""``python -m vcodec``: the vcodec command."""

import sys

from vcodec.cli.main import main

sys.exit(main())
