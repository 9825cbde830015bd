"""Shared fixtures: small generated corpora (tests never read ../shared/data) and tiny configs."""

from __future__ import annotations

import numpy as np
import pytest

_WORDS = (
    "the of and to a in that is was he for it with as his on be at by had not are but from or "
    "have an they which one you were her all she there would their we him been has when who "
    "will more no if out so said what up its about into than them can only other new some could "
    "time these two may then do first any my now such like our over man me even most made after"
).split()


def make_text(n_chars: int = 20_000, seed: int = 0) -> str:
    """Deterministic English-like text: words from a fixed list, sentences, lines, paragraphs."""
    rng = np.random.default_rng(seed)
    pieces, size = [], 0
    while size < n_chars:
        words = [str(w) for w in rng.choice(_WORDS, size=int(rng.integers(4, 12)))]
        sentence = " ".join(words).capitalize() + rng.choice([". ", "? ", ", ", ".\n", ".\n\n"])
        pieces.append(sentence)
        size += len(sentence)
    return "".join(pieces)[:n_chars]


@pytest.fixture(scope="session")
def small_text() -> str:
    """About 20k characters of English-like text (a few dozen distinct characters)."""
    return make_text(20_000)


@pytest.fixture
def small_corpus_file(tmp_path, small_text):
    """A UTF-8 file holding `small_text`; returns its path."""
    path = tmp_path / "corpus.txt"
    path.write_text(small_text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_corpus(small_text):
    from tui_rnn.corpus import from_text

    return from_text(small_text, name="small")


@pytest.fixture
def tiny_config():
    """A model small enough to train a few hundred updates in well under a second."""
    from tui_rnn.train import TrainConfig

    return TrainConfig(hidden_size=16, seq_length=10, seed=0, sample_every=50, sample_length=30)
