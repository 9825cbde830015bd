"""`python -m tui_rnn`: the same as the `tui-rnn` command."""

import sys

from tui_rnn.cli import main

sys.exit(main())
