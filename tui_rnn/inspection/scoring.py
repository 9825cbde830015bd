"""How well a model predicts a text: its loss in nats per character, bits per character and
perplexity, and the passages it finds most surprising (`tui-rnn eval`, the app's runs screen).

The loss of a text x_0 .. x_N read from a zero state is the mean over t >= 1 of
-ln p(x_t | x_0 .. x_{t-1}) (x_0 is only read); bits = nats / ln 2, perplexity = e^nats.
A text is read one of two ways, as the two questions need:

- a run's own held-out text (else its corpus), `score_split`: exactly the trainer's validation
  (trainer.evaluate_streams: the same streams, chunks and dtype), so the figure is the one the
  run records;
- any text, `TextScorer`: one stream from a zero state, fed block by block as the file is
  decoded and run in chunks of CHUNK steps with the state carried, so the memory is that of a
  block whatever the size of the text. A character outside the model's vocabulary is skipped
  and counted: the model never reads it, its state carries over it.

The most surprising passages are windows of PASSAGE predicted characters, ranked by their mean
loss; only the `count` worst are kept as the text streams past, and their context is read
again afterwards (`attach_context`), so they cost no memory either.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tui_rnn.cells.model import Model
from tui_rnn.store import checkpoint as store_checkpoint
from tui_rnn.store.checkpoint import CHECKPOINTS
from tui_rnn.training.corpus import Corpus, CorpusError, open_text
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import evaluate_streams, evaluation_shape, split_text

CHUNK = 1024  # steps per forward pass of one stream (bounds the memory of its cache)
PASSAGE = 32  # predicted characters in a passage
CONTEXT = 24  # characters shown on either side of a passage
MAX_SPAN = 4 * PASSAGE  # a window spread wider (by unknown characters) is not a passage shown
LN2 = math.log(2.0)
MARK = 2.0  # a passage's characters at least this many times the text's loss are marked

Progress = Callable[[int], None]  # hears how much more was read (characters, or a file's bytes)


@dataclass(frozen=True)
class Score:
    """A model's loss on a text."""

    nats_per_char: float
    characters: int  # predicted (scored)
    unknown_characters: int = 0  # skipped: not in the model's vocabulary

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_char) if self.nats_per_char < 700 else math.inf


@dataclass(frozen=True)
class Surprise:
    """One of the passages a model found most surprising. `text` runs from its first predicted
    character to its last; `losses` holds each of its characters' loss in nats (None: a
    character outside the vocabulary, not predicted). Context and line come with
    `attach_context`."""

    start: int  # offset (in characters) of text[0] in the text read
    nats_per_char: float
    positions: tuple[int, ...]  # the offsets of the predicted characters
    position_losses: tuple[float, ...]
    text: str = ""
    before: str = ""
    after: str = ""
    line: int = 0  # 1-based

    @property
    def end(self) -> int:
        return self.positions[-1] + 1

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2

    @property
    def losses(self) -> list[float | None]:
        by_offset = dict(zip(self.positions, self.position_losses, strict=True))
        return [by_offset.get(self.start + i) for i in range(len(self.text))]


@dataclass
class WorstPassages:
    """The `count` windows of PASSAGE predicted characters of highest mean loss seen so far
    (equal ones: the earlier wins). A window spread over more than MAX_SPAN characters of the
    text (unknown ones between) is left out: what is shown of it, and read again, stays small."""

    count: int
    window: int = PASSAGE
    heap: list[tuple[float, int, Surprise]] = field(default_factory=list)

    def add(self, positions: np.ndarray, losses: np.ndarray) -> None:
        """One stream's consecutive predicted characters: their offsets and losses. Windows
        start at positions[0] (a last one of fewer than half a window is left out)."""
        if not self.count:
            return
        W, n = self.window, len(losses)
        if not n:
            return
        starts = np.arange(0, n, W)
        sizes = np.minimum(W, n - starts)
        means = np.add.reduceat(np.asarray(losses, dtype=np.float64), starts) / sizes
        spans = np.asarray(positions)[starts + sizes - 1] - np.asarray(positions)[starts] + 1
        whole = (sizes * 2 >= W) & (spans <= MAX_SPAN)
        starts, sizes, means = starts[whole], sizes[whole], means[whole]
        if len(self.heap) == self.count:
            keep = np.flatnonzero(means >= self.heap[0][0])
        else:
            keep = np.arange(len(means))
        for w in keep:
            a, b = int(starts[w]), int(starts[w] + sizes[w])
            surprise = Surprise(
                int(positions[a]),
                float(means[w]),
                tuple(int(p) for p in positions[a:b]),
                tuple(float(v) for v in losses[a:b]),
            )
            entry = (surprise.nats_per_char, -surprise.start, surprise)
            if len(self.heap) < self.count:
                heapq.heappush(self.heap, entry)
            elif entry[:2] > self.heap[0][:2]:
                heapq.heapreplace(self.heap, entry)

    def worst(self) -> list[Surprise]:
        """Worst first."""
        return [s for _, _, s in sorted(self.heap, key=lambda e: (-e[0], -e[1]))]


# -- a run's own split: the trainer's evaluation --------------------------------------------------
def score_split(
    model: Model,
    data: np.ndarray,
    worst: WorstPassages | None = None,
    progress: Progress | None = None,
    offset: int = 0,
) -> Score:
    """`model` on `data` (ids) exactly as the trainer evaluates its held-out text; the worst
    passages' offsets are counted from `offset` (where `data` starts in its corpus)."""
    streams, length = evaluation_shape(len(data))

    def on_chunk(targets: np.ndarray, losses: np.ndarray) -> None:
        if worst is not None:
            for s in range(streams):
                worst.add(targets[:, s] + offset, losses[:, s])
        if progress is not None:
            progress(targets.size)

    nats = evaluate_streams(model, data, on_chunk)
    return Score(nats, streams * length)


# -- any text: one stream ------------------------------------------------------------------------
class TextScorer:
    """One model reading a text as one stream from a zero state; feed it the text in pieces."""

    def __init__(self, model: Model, chars: Sequence[str], worst: WorstPassages | None = None):
        self.model = model
        self.worst = worst
        code_points = np.array([ord(ch) for ch in chars], dtype=np.int64)
        self.lookup = np.full(int(code_points.max()) + 1, -1, dtype=np.int64)
        self.lookup[code_points] = np.arange(len(chars))
        self.state = model.zero_state(1)
        self.ids = np.zeros(0, dtype=np.int64)  # known characters not yet run; ids[0] is input
        self.positions = np.zeros(0, dtype=np.int64)
        self.offset = 0  # characters fed so far
        self.total = 0.0  # nats
        self.predicted = 0
        self.unknown = 0

    def feed(self, text: str) -> None:
        code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = np.full(len(code_points), -1, dtype=np.int64)
        inside = code_points < len(self.lookup)
        ids[inside] = self.lookup[code_points[inside]]
        known = np.flatnonzero(ids >= 0)
        self.unknown += len(ids) - len(known)
        self.ids = np.concatenate([self.ids, ids[known]])
        self.positions = np.concatenate([self.positions, known + self.offset])
        self.offset += len(ids)
        while len(self.ids) > CHUNK:
            self._run(CHUNK)

    def finish(self) -> Score:
        if len(self.ids) > 1:
            self._run(len(self.ids) - 1)
        if not self.predicted:
            raise ValueError("nothing to predict")
        return Score(self.total / self.predicted, self.predicted, self.unknown)

    def _run(self, steps: int) -> None:
        """Predict ids[1 .. steps] from ids[0 .. steps-1]; ids[steps] becomes the next input."""
        inputs, targets = self.ids[:steps, None], self.ids[1 : steps + 1, None]
        loss, cache = self.model.forward(inputs, targets, self.state, keep=False)
        self.state = cache.final_state
        self.total += loss
        self.predicted += steps
        if self.worst is not None:
            self.worst.add(self.positions[1 : steps + 1], cache.step_losses[:, 0])
        self.ids, self.positions = self.ids[steps:], self.positions[steps:]


class _ByteCount:
    """A stand-in digest for open_text: counts the bytes read (the progress of a file)."""

    def __init__(self, progress: Progress | None):
        self.progress = progress

    def update(self, block: bytes) -> None:
        if self.progress is not None:
            self.progress(len(block))


def score_text(
    path: str | Path,
    models: Sequence[tuple[str, Model, Sequence[str]]],
    encoding: str = "utf-8",
    worst: int = 0,
    progress: Progress | None = None,
) -> list[tuple[Score, list[Surprise]]]:
    """Every (name, model, vocabulary) on the text of file `path`, read once (the models side by
    side, each its own stream). CorpusError for a file that cannot be read, or that holds fewer
    than two characters some model knows. `progress` hears bytes read."""
    scorers = [TextScorer(model, chars, WorstPassages(worst)) for _, model, chars in models]
    for piece in open_text(path, encoding, _ByteCount(progress), what="text file"):
        for scorer in scorers:
            scorer.feed(piece)
    results = []
    for (name, _, _), scorer in zip(models, scorers, strict=True):
        try:
            score = scorer.finish()
        except ValueError:
            raise CorpusError(
                f"{path} holds {len(scorer.ids)} character(s) that {name}'s model knows (and "
                f"{scorer.unknown:,} it does not): nothing to predict; give a text written in "
                "its vocabulary"
            ) from None
        results.append((score, scorer.worst.worst() if scorer.worst else []))
    return results


# -- context -------------------------------------------------------------------------------------
def attach_context(surprises: list[Surprise], pieces, context: int = CONTEXT) -> list[Surprise]:
    """`surprises` with their text, context and line, read from `pieces` (the text again, in
    order, in pieces of any size): one pass, keeping only what they need."""
    wanted = sorted({(max(0, s.start - context), s.end + context) for s in surprises})
    found: dict[tuple[int, int], list[str]] = {r: [] for r in wanted}
    lines_at: dict[int, int] = {}
    offset, lines = 0, 1
    starts = sorted({s.start for s in surprises})
    last = max((b for _, b in wanted), default=0)
    for piece in pieces:
        end = offset + len(piece)
        for a, b in wanted:
            if a < end and b > offset:
                found[(a, b)].append(piece[max(0, a - offset) : b - offset])
        for start in starts:
            if offset <= start < end and start not in lines_at:
                lines_at[start] = lines + piece.count("\n", 0, start - offset)
        lines += piece.count("\n")
        offset = end
        if offset >= last and len(lines_at) == len(starts):
            break
    shown = []
    for s in surprises:
        a = max(0, s.start - context)
        whole = "".join(found[(a, s.end + context)])
        cut, stop = s.start - a, s.end - a
        shown.append(
            replace(
                s,
                before=whole[:cut],
                text=whole[cut:stop],
                after=whole[stop:],
                line=lines_at.get(s.start, 0),
            )
        )
    return shown


def text_pieces(path: str | Path, encoding: str = "utf-8"):
    """The file's text again, for attach_context."""
    return open_text(path, encoding, what="text file")


def id_pieces(data: np.ndarray, chars: Sequence[str], piece: int = 1 << 16):
    """A text held as ids, decoded a piece at a time, for attach_context."""
    table = np.array(list(chars), dtype=object)
    for start in range(0, len(data), piece):
        yield "".join(table[data[start : start + piece]])


def surprising(loss: float | None, nats_per_char: float) -> bool:
    """Whether a character is marked in a passage: its loss at least MARK times the text's."""
    return loss is not None and loss >= MARK * nats_per_char


# -- runs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunScore:
    """One run's model scored on a text, and the passages it found most surprising."""

    run: str
    checkpoint: str  # "best" or "latest"
    iteration: int  # the model's
    text: str  # what it read: "validation text", "corpus", or the file
    score: Score
    worst: tuple[Surprise, ...] = ()

    @property
    def model(self) -> str:
        return f"{self.checkpoint}, iter {self.iteration:,}"

    def to_json(self, worst: bool = False) -> dict:
        document: dict[str, object] = {
            "run": self.run,
            "checkpoint": self.checkpoint,
            "iteration": self.iteration,
            "text": self.text,
            "nats_per_char": self.score.nats_per_char,
            "bits_per_char": self.score.bits_per_char,
            "perplexity": self.score.perplexity,
            "characters": self.score.characters,
            "unknown_characters": self.score.unknown_characters,
        }
        if worst:
            document["worst"] = [self._passage_json(s) for s in self.worst]
        return document

    def _passage_json(self, surprise: Surprise) -> dict:
        losses = surprise.losses
        return {
            "line": surprise.line,
            "start": surprise.start,
            "end": surprise.end,
            "nats_per_char": surprise.nats_per_char,
            "bits_per_char": surprise.bits_per_char,
            "before": surprise.before,
            "text": surprise.text,
            "after": surprise.after,
            "marked": [
                i for i, loss in enumerate(losses) if surprising(loss, self.score.nats_per_char)
            ],
        }


@dataclass(frozen=True)
class _Loaded:
    run_dir: Path
    model: Model
    chars: tuple[str, ...]
    document: dict
    iteration: int


def evaluate_runs(
    run_dirs: Sequence[str | Path],
    text: str | Path | None = None,
    encoding: str | None = None,
    checkpoint: str = "best",
    worst: int = 0,
    progress: Callable[[float], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[RunScore]:
    """Each run's model (`checkpoint`: best or latest) scored on file `text` (one stream), or
    without one on its own held-out text (else its corpus) as its trainer does; best first.
    `progress(fraction)` hears how far it got. RunError and CorpusError say what is wrong."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    loaded = []
    for run_dir in run_dirs:
        model, chars, document, iteration = store_checkpoint.load_model_at(
            run_dir, checkpoint == "best", warn
        )
        loaded.append(_Loaded(Path(run_dir), model, chars, document, iteration))
    if text is not None:
        scores = _on_text(loaded, text, encoding or "utf-8", checkpoint, worst, progress)
    else:
        scores = _on_own_text(loaded, checkpoint, worst, progress)
    return sorted(scores, key=lambda r: (math.isnan(r.score.nats_per_char), r.score.nats_per_char))


def _on_text(loaded, text, encoding, checkpoint, worst, progress) -> list[RunScore]:
    try:
        size = os.stat(text).st_size
    except OSError:  # score_text says what is wrong with it
        size = 0
    models = [(str(run.run_dir), run.model, run.chars) for run in loaded]
    results = score_text(text, models, encoding, worst, _Done(size, progress))
    found = [s for _, worst_found in results for s in worst_found]
    shown = attach_context(found, text_pieces(text, encoding)) if found else []
    scores = []
    for run, (score, mine) in zip(loaded, results, strict=True):
        passages, shown = tuple(shown[: len(mine)]), shown[len(mine) :]
        scores.append(
            RunScore(str(run.run_dir), checkpoint, run.iteration, str(text), score, passages)
        )
    return scores


def _on_own_text(loaded, checkpoint, worst, progress) -> list[RunScore]:
    corpora: dict[tuple, Corpus] = {}
    texts = []
    for run in loaded:
        recorded = run.document["corpus"]
        key = (recorded.get("path"), run.document.get("encoding"), recorded.get("sha256"))
        if key not in corpora:
            retry = f"or score it on a text: tui-rnn eval {run.run_dir} --text FILE"
            corpus = store_checkpoint.load_run_corpus(run.document, retry=retry)
            store_checkpoint.check_same_corpus(run.document, corpus)
            corpora[key] = corpus
        corpus = corpora[key]
        config = TrainConfig.from_dict(run.document["config"])
        training, held_out = split_text(corpus.data, config.val_fraction)
        if len(held_out):
            texts.append((corpus, held_out, len(training), "validation text"))
        else:
            texts.append((corpus, corpus.data, 0, "corpus"))
    total = sum(math.prod(evaluation_shape(len(split))) for _, split, _, _ in texts)
    done = _Done(total, progress)
    scores = []
    for run, (corpus, split, offset, what) in zip(loaded, texts, strict=True):
        found = WorstPassages(worst)
        score = score_split(run.model, split, found, done, offset)
        passages = found.worst()
        if passages:
            passages = attach_context(passages, id_pieces(corpus.data, corpus.chars))
        scores.append(
            RunScore(str(run.run_dir), checkpoint, run.iteration, what, score, tuple(passages))
        )
    return scores


class _Done:
    """Counts what was read and tells `progress` the fraction of `total` (0: unknown)."""

    def __init__(self, total: int, progress: Callable[[float], None] | None):
        self.total, self.done, self.progress = total, 0, progress

    def __call__(self, amount: int) -> None:
        self.done += amount
        if self.progress is not None and self.total:
            self.progress(min(1.0, self.done / self.total))


def table(scores: Sequence[RunScore], own_text: bool) -> tuple[list[str], list[list[str]]]:
    """(column names, one row of plain cells per run) of runs side by side, in their order;
    `own_text`: each run read its own text, named in a column. Run names are shown as they
    are: the caller makes them safe for where they go."""
    columns = ["run", "model", *(["text"] if own_text else []), "characters", "unknown"]
    columns += ["nats/char", "bits/char", "perplexity"]
    rows = []
    for result in scores:
        score = result.score
        rows.append(
            [
                result.run,
                result.model,
                *([result.text] if own_text else []),
                f"{score.characters:,}",
                f"{score.unknown_characters:,}",
                f"{score.nats_per_char:.4f}",
                f"{score.bits_per_char:.4f}",
                f"{score.perplexity:.3f}",
            ]
        )
    return columns, rows
