"""`tui-rnn generate`: text from a saved run's model, streamed to stdout.

Its options are the generation options' table (tui_rnn/training/generation.py), which the app's
generator pane reads its fields by too.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tui_rnn.cli.common import UsageError, named_run_dir, print_warning
from tui_rnn.safe import files
from tui_rnn.safe import text as safe_text
from tui_rnn.store import checkpoint
from tui_rnn.training import generation, sampling
from tui_rnn.training.corpus import UnknownCharactersError

CHUNK = 256  # characters gathered before a write when no newline comes sooner


def cmd_generate(args: argparse.Namespace) -> int:
    """The prompt, then `length` characters that continue it."""
    config = generation.resolve(vars(args))
    run_dir = named_run_dir(args.run_dir)
    model, chars, _ = checkpoint.load_model(run_dir, best=config.best, warn=print_warning)
    try:
        prompt_ids = sampling.start_ids(config.prompt, chars)
    except UnknownCharactersError as err:
        raise UsageError(f"the prompt has {err}") from None
    rng = np.random.Generator(np.random.PCG64(config.seed))
    # Shown through safetext on a terminal, exact into a pipe or a file.
    shown = safe_text.isatty(sys.stdout)

    def write(text: str) -> None:
        files.write_output(sys.stdout, safe_text.terminal(text) if shown else text)

    pending = [config.prompt]
    for i in sampling.continue_prompt(
        model, prompt_ids, config.length, rng, config.temperature, config.top_p, config.greedy
    ):
        pending.append(chars[i])
        if chars[i] == "\n" or len(pending) >= CHUNK:
            write("".join(pending))
            pending = []
    write("".join(pending) + "\n")
    return 0
