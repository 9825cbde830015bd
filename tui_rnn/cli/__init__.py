"""The command line: the app, train, generate, gradcheck, export, runs, report.

    tui-rnn [CORPUS] [training options]          the app (built-in corpus if none)
    tui-rnn train [CORPUS] [training options]    headless training
    tui-rnn generate RUN_DIR [--prompt TEXT] ...
    tui-rnn gradcheck [CORPUS] ...
    tui-rnn export RUN_DIR ...
    tui-rnn inspect RUN_DIR [--text FILE | --prompt TEXT] ...
    tui-rnn runs [DIR] [--json]                  the runs under DIR (./runs), newest first
    tui-rnn report RUN_DIR [--output DIR]        report.md and fig1.svg

Wherever a RUN_DIR is taken (--resume too), `latest` is the most recently updated run under
./runs (unless a file or directory named latest exists: it wins). A corpus file named like a
command stays reachable as ./runs.

Every user mistake ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

from tui_rnn.cli.common import COMMANDS, EXIT_USAGE, UsageError, print_error, silence_stdout
from tui_rnn.cli.parser import build_parser
from tui_rnn.safe import files
from tui_rnn.safe.files import RunError
from tui_rnn.training.corpus import CorpusError
from tui_rnn.training.options import OptionError


def main(argv: list[str] | None = None) -> int:

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv[1:] if command else argv)
        code = args.run(args)
        files.write_output(sys.stdout, "")  # what is still buffered must reach it too
        return code
    except (UsageError, CorpusError, RunError, OptionError) as err:
        if isinstance(err, files.OutputError):
            silence_stdout()
        print_error(f"tui-rnn: error: {err}")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. tui-rnn generate ... | head
        silence_stdout()
        return 0
    except UnicodeEncodeError as err:  # e.g. a latin-1 terminal and a model writing CJK
        silence_stdout()
        print_error(
            f"tui-rnn: error: standard output's encoding ({err.encoding}) cannot write "
            f"{err.object[err.start : err.end]!r}: use a UTF-8 locale or PYTHONIOENCODING=utf-8"
        )
        return EXIT_USAGE
    except OSError as err:  # anything else the system refused: still one line
        print_error(f"tui-rnn: error: {files.describe(err)} ({err.filename or err})")
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C in generate, export, or while a corpus loads
        print_error("tui-rnn: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
