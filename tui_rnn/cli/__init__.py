"""The command line, the package's top layer: `main` (tui-rnn [COMMAND] ...), the table of
commands and their arguments (parser.py), one module per family of commands (train.py with the
app launcher, generate.py, evaluate.py, checks.py, runs.py, model_files.py), the training
progress printer (reporter.py) and what they share (common.py). It may import every layer below
it; nothing imports it. Wherever a RUN_DIR is taken, `latest` is the newest run under ./runs,
and every user mistake ends in one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import codecs
import sys
import time

from tui_rnn.cli.common import (
    EXIT_USAGE,
    UsageError,
    print_error,
    process_started,
    silence_stdout,
)
from tui_rnn.cli.parser import BY_NAME, build_parser, unknown_command
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.safe.files import RunError
from tui_rnn.training.corpus import CorpusError
from tui_rnn.training.options import OptionError


def main(argv: list[str] | None = None) -> int:
    """Run the command `argv` names (default: sys.argv's); its exit code."""
    # A command's start, for --time-limit: the process's when it is the program, else now.
    started = process_started() if argv is None else time.monotonic()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in BY_NAME else None
    parser = build_parser(command)
    try:
        mistyped = unknown_command(argv[0]) if argv and command is None else None
        if mistyped:
            raise UsageError(mistyped)
        args = parser.parse_args(argv[1:] if command else argv)
        args.started = started
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
        if on_stdout(err):
            silence_stdout()
        print_error(f"tui-rnn: error: {encoding_problem(err)}")
        return EXIT_USAGE
    except OSError as err:  # anything else the system refused: still one line
        print_error(f"tui-rnn: error: {files.describe(err)} ({err.filename or err})")
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C in generate, export, or while a corpus loads
        print_error("tui-rnn: interrupted")
        return 130


def on_stdout(err: UnicodeEncodeError) -> bool:
    """Whether standard output is what could not encode the text: its encoding, and text of
    a corpus or a model (a file name's undecodable bytes are no text anything can write)."""
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return codecs.lookup(encoding).name == codecs.lookup(err.encoding).name and not is_fs_bytes(
        err.object[err.start : err.end]
    )


def encoding_problem(err: UnicodeEncodeError) -> str:
    """What could not be written, and why, in one line."""
    text = err.object[err.start : err.end]
    if is_fs_bytes(text):
        return (
            f"a file name holds bytes that are not UTF-8 ({safe_text.escaped_bytes(text)}), "
            f"which cannot be written as {err.encoding} text here: rename the file"
        )
    if on_stdout(err):
        return (
            f"standard output's encoding ({err.encoding}) cannot write {text!r}: use a UTF-8 "
            "locale or PYTHONIOENCODING=utf-8"
        )
    return f"{err.encoding} cannot encode {text!r} ({err.reason})"


def is_fs_bytes(text: str) -> bool:
    """Whether `text` is os.fsdecode's surrogate escapes of bytes that are not UTF-8."""
    return bool(text) and all("\udc80" <= ch <= "\udcff" for ch in text)


if __name__ == "__main__":
    sys.exit(main())
