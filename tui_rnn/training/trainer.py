"""The training state and the one method that changes it: streams, updates, clipping, the
optimizer, smooth and validation loss, epochs, the best model, samples.

One update (B = 1 stream, float64, AdaGrad is exactly the DD2424 assignment and min-char-rnn):

    the training text is cut into B equal segments, stream b reading segment b from position p:
    X[t, b], Y[t, b] = text[b*S + p + t], text[b*S + p + t + 1]       t < n = seq_length
    loss, cache = model.forward(X, Y, state)     loss = (1/B) sum_b sum_t -log p_t,b[y_t,b]
    g = clip(model.backward(cache), -C, C)        (after averaging over the streams)
    theta = optimizer(theta, g, eta_t)            eta_t: the schedule's (training/schedule.py),
                                                  times F^max(0, epochs done - E) (--lr-decay)
    smooth_loss = 0.999 smooth_loss + 0.001 loss
    p += n; state = the chunk's final state.
    When a chunk would run past the end of its segment: p = 0, state = 0, next epoch
    (the leftover tail of each segment, shorter than a chunk, is skipped).

Validation (--val-fraction f > 0): the last f of the text is held out and never trained on.
Every `eval_every` updates (and when training reaches its target) the model reads all of it
from a zero state, cut into EVAL_STREAMS equal streams carried to their ends, and the mean loss
per character is the validation loss. With validation the best model is the one with the lowest
validation loss (char-rnn's and nanoGPT's choice); without it, the lowest smooth loss (the
report's). The evaluation at a target stays when training goes on past it: the model it chose
is never lost, so a run continued past its target may have one evaluation (and a best model)
more than one trained straight through, and the same parameters, optimizer state and smooth
loss. With --patience P, training stops after P scheduled evaluations in a
row without a better one (the evaluation made only because the target was reached does not
count).

`check_run` makes every check a new run must pass (the text, memory, the streams, the first
loss) and returns its target before anything is built, so that a refusal leaves nothing
behind. The Trainer knows nothing about files or screens: tui_rnn.store saves it,
tui_rnn.driver drives it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from tui_rnn.cells.model import ForwardCache, Model, ModelSpec
from tui_rnn.training import sampling, schedule
from tui_rnn.training.corpus import Corpus, check_streams, check_trainable
from tui_rnn.training.history import LossHistory, Progress, Sample
from tui_rnn.training.optim import CLASSES as OPTIMIZER_CLASSES
from tui_rnn.training.optim import make_optimizer
from tui_rnn.training.options import OptionError, TrainConfig

_LARGEST_LOSS = float(np.finfo(np.float32).max)
MAX_UPDATES = 2**53  # the largest target: beyond it a float64 no longer counts updates exactly
EVAL_STREAMS = 32  # the held-out text is read as this many streams (any batch size: comparable)
EVAL_CHUNK = 256  # steps per forward pass while evaluating (bounds the memory it takes)

# How much of the training time validation may take: an evaluation reads V characters once
# (one forward pass each), an update reads B * n characters three times over (forward,
# backward, the update), so evaluating every V / (0.15 B n) updates costs about 5%.
_EVAL_SHARE = 0.05

# A run is "going badly" when the smooth loss is still above where it started after this many
# updates (and 2% of the target): the learning rate is almost certainly too large.
_TROUBLE_AFTER = 1000


class DivergenceError(RuntimeError):
    """The loss became NaN or infinite; the update that would have used it was not applied."""

    def __init__(self, iteration: int, loss: float, eta: float):
        self.iteration = iteration
        self.loss = loss
        super().__init__(
            f"training diverged at iteration {iteration} (loss = {loss}): lower --eta "
            f"(now {eta:g}) and resume from the last good checkpoint"
        )


class Interrupted(Exception):
    """A sample was stopped by `interrupt()`; the random generator is as it was before it."""


def model_spec(config: TrainConfig, vocab_size: int) -> ModelSpec:
    """The model a config describes."""
    return ModelSpec(
        cell=config.cell,
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        layers=config.layers,
        dtype=config.dtype,
    )


# -- what a run must pass before anything is built ---------------------------------------------
def check_run(
    config: TrainConfig, corpus: Corpus, iterations: int | None, epochs: float | None
) -> int:
    """OptionError or CorpusError for the first reason a new run of `config` on `corpus`
    cannot train (in this order: the text, this machine's memory, the streams, the first
    loss); else its target, the total updates that `iterations` or `epochs` ask for."""
    check_trainable(corpus, config.seq_length)
    check_fits_memory(config, corpus.vocab_size)
    train_data, val_data = split_text(corpus.data, config.val_fraction)
    check_streams(len(train_data), len(val_data), config)
    if config.sigma is not None:  # the cell's scaled initialisation is always sound
        model, _ = initial_model(model_spec(config, corpus.vocab_size), config)
        check_initial_loss(model, train_data, config)
    target = target_iterations(config, len(corpus), iterations, epochs)
    check_some_updates(config, len(corpus), iterations, epochs, target)
    return target


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where it cannot be asked: no check then)."""

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits_memory(config: TrainConfig, vocab_size: int, label: str = "--hidden") -> None:
    """OptionError when a Trainer of this config cannot fit in this machine's memory (NumPy
    would raise MemoryError halfway, or the kernel kill us). It holds arrays of the model's
    size (parameters, gradients, best parameters, two optimizer scratch buffers and the
    optimizer's own state) and, during an update, the activations of seq_length x batch
    steps (ModelSpec.activation_count)."""
    spec = model_spec(config, vocab_size)
    count = spec.param_count
    arrays = 5 + len(OPTIMIZER_CLASSES[config.optimizer].vector_state)
    itemsize = np.dtype(config.dtype).itemsize
    weights = arrays * itemsize * count
    activations = itemsize * spec.activation_count(config.seq_length, config.batch_size)
    total = physical_memory()
    if total is None or weights + activations <= total:
        return
    if weights > total:
        raise OptionError(
            f"{label} {config.hidden_size} needs about {weights / 2**30:,.1f} GiB ({count:,} "
            f"parameters in {arrays} arrays), more than this machine's {total / 2**30:,.1f} GiB "
            f"of memory: use a smaller {label}"
        )
    raise OptionError(
        f"an update of --batch {config.batch_size} x --seq-length {config.seq_length} steps "
        f"of this model needs about {(weights + activations) / 2**30:,.1f} GiB, more than this "
        f"machine's {total / 2**30:,.1f} GiB of memory: use a smaller --batch, --seq-length "
        f"or {label}"
    )


def evaluation_shape(val_length: int) -> tuple[int, int]:
    """(streams, steps per stream) of a validation pass over `val_length` characters."""
    streams = max(1, min(EVAL_STREAMS, (val_length - 1) // 2))
    return streams, (val_length - 1) // streams


def split_text(data: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(training text, held-out text): the held-out part is the last val_fraction of it."""
    held_out = int(len(data) * val_fraction)
    return data[: len(data) - held_out], data[len(data) - held_out :]


def initial_model(spec: ModelSpec, config: TrainConfig) -> tuple[Model, np.random.Generator]:
    """The model a run starts from, and the generator that drew it: the same generator goes
    on to draw the samples, as in the report's run."""
    rng = np.random.Generator(np.random.PCG64(config.seed))
    model = Model.zeros(spec)
    model.init(rng, config.sigma)
    return model, rng


def check_initial_loss(model: Model, train_data: np.ndarray, config: TrainConfig) -> None:
    """OptionError naming --sigma when the initial weights are so large that the loss of the
    first chunk is not finite (or overflows the float32 history): no update could ever be
    applied, and --eta is not the cause."""
    if config.sigma is None:  # the cell's scaled initialisation is always sound
        return
    sigma = f"--sigma {config.sigma:g}"
    smaller = "use a smaller --sigma (or leave it out for the cell's default)"
    if not np.isfinite(model.flat).all():
        raise OptionError(f"{sigma} makes the initial weights overflow to infinity: {smaller}")
    n = config.seq_length
    inputs, targets = train_data[:n, None], train_data[1 : n + 1, None]
    with np.errstate(all="ignore"):
        loss = model.loss(inputs, targets, model.zero_state(1))
    if not abs(loss) <= _LARGEST_LOSS:
        raise OptionError(f"{sigma} makes the first loss {loss:.3g}, too large to train: {smaller}")


def default_eval_every(config: TrainConfig, length: int) -> int:
    """Updates between validation passes over a text of `length` characters: so that they
    take about _EVAL_SHARE of the training time (0: no validation)."""
    held_out = int(length * config.val_fraction)
    if not held_out:
        return 0
    share = 3 * _EVAL_SHARE * config.batch_size * config.seq_length
    return max(1, math.ceil(held_out / share))


def updates_per_epoch(config: TrainConfig, length: int) -> int:
    """The updates of one epoch over a text of `length` characters."""
    train_length = length - int(length * config.val_fraction)
    return (train_length // config.batch_size - 1) // config.seq_length


def target_iterations(
    config: TrainConfig, length: int, iterations: int | None = None, epochs: float | None = None
) -> int:
    """The total updates `iterations` or `epochs` ask for (2 epochs if neither is given);
    OptionError for more than MAX_UPDATES."""
    if iterations is not None:
        updates: float = int(iterations)
        asked = f"--iterations {iterations}"
    else:
        epochs = 2 if epochs is None else epochs
        updates = epochs * updates_per_epoch(config, length)
        asked = f"--epochs {epochs:g}"
    if not updates <= MAX_UPDATES:  # inf too: int(round(inf)) would raise OverflowError
        raise OptionError(
            f"{asked} is more than 2**53 updates (more than can be counted): give fewer"
        )
    return int(round(updates))


def check_some_updates(
    config: TrainConfig, length: int, iterations: int | None, epochs: float | None, target: int
) -> None:
    """OptionError when a new run's target is no update at all (`--iterations 0`, or so few
    `--epochs` that they round to none): it would train nothing."""
    if target >= 1:
        return
    if iterations is not None:
        raise OptionError(f"--iterations {iterations} is less than one update: give at least 1")
    epoch = updates_per_epoch(config, length)
    raise OptionError(
        f"--epochs {epochs:g} is less than one update (an epoch of this text is {epoch:,} "
        f"updates): give at least --epochs {1 / epoch:.2g}"
    )


# -- validation ----------------------------------------------------------------------------------
def evaluate_streams(
    model: Model,
    data: np.ndarray,
    on_chunk: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> float:
    """The mean loss per character (nats) of `model` reading `data` from a zero state as
    EVAL_STREAMS streams side by side, in chunks of EVAL_CHUNK steps: the validation loss.

    `on_chunk(targets, step_losses)` hears each chunk: the (T, streams) positions in `data` of
    the characters predicted and their losses (it must only read)."""
    streams, length = evaluation_shape(len(data))
    starts = np.arange(streams) * length
    state = model.zero_state(streams)
    total = 0.0
    for t0 in range(0, length, EVAL_CHUNK):
        steps = np.arange(t0, min(length, t0 + EVAL_CHUNK))[:, None]
        index = starts + steps
        loss, cache = model.forward(data[index], data[index + 1], state, keep=False)
        state = cache.final_state
        total += loss * streams  # the loss is the mean over the streams
        if on_chunk is not None:
            on_chunk(index + 1, cache.step_losses)
    return total / (streams * length)


# -- training ------------------------------------------------------------------------------------
class Trainer:
    """Everything that changes during training, and the one method that changes it: `step`."""

    def __init__(self, data: np.ndarray, chars: tuple[str, ...], config: TrainConfig):
        config.validate()
        if config.needs_schedule_end and config.schedule_end is None:
            raise OptionError(
                f"--lr-schedule {config.lr_schedule} with --warmup {config.warmup} needs the "
                "run's last update (config.schedule_end)"
            )
        self.data = data
        self.chars = tuple(chars)
        self.config = config
        self.train_data, self.val_data = split_text(data, config.val_fraction)
        check_streams(len(self.train_data), len(self.val_data), config)
        n, B = config.seq_length, config.batch_size
        self.segment = len(self.train_data) // B  # each stream's part of the text
        self.spec = model_spec(config, len(self.chars))
        # One generator for the initialisation and the samples, and a stream of its own for
        # dropout masks, so that taking a sample never changes the weights.
        self.model, self.rng = initial_model(self.spec, config)
        self.dropout_rng = np.random.Generator(np.random.PCG64([config.seed, 1]))
        # The gradient as a Model too: named views built once, not at every update.
        self.grads = Model.zeros(self.spec)
        self.optimizer = make_optimizer(
            config.optimizer, self.model.flat.size, self.model.flat.dtype, config.eps
        )
        self.state = self.model.zero_state(B)
        self.position = 0
        self.iteration = 0
        self.epoch = 1
        self.smooth_loss = self.initial_smooth_loss
        self.best_flat = self.model.flat.copy()
        self.best_smooth_loss = self.smooth_loss
        self.best_iteration = 0
        self.best_val_loss = math.inf
        self.evaluations_since_best = 0  # scheduled ones in a row, for --patience
        self.last_sample_iteration = -1
        self.train_seconds = 0.0
        self.history = LossHistory()
        self.samples: deque[Sample] = deque(maxlen=200)  # all of them go to disk (store.samples)
        if self.validating and config.eval_every is None:
            config.eval_every = self.default_eval_every()  # recorded: a resume keeps it
        self.eval_every = config.eval_every or 0
        self._stream_starts = np.arange(B) * self.segment
        self._steps = np.arange(n)[:, None]
        # Called after every update with (trainer, the update's forward cache); it must only
        # read (the inspector's health statistics, training.health). None: nothing is called.
        self.on_update: Callable[[Trainer, ForwardCache], None] | None = None

    # -- derived quantities --------------------------------------------------------------------
    @property
    def params(self) -> Model:
        """The current model (its `flat` vector is what the optimizer updates)."""
        return self.model

    @property
    def best_params(self) -> Model:
        return Model.from_flat(self.spec, self.best_flat)

    @property
    def initial_smooth_loss(self) -> float:
        """-log(1/K) * seq_length: the loss of a uniform guess (the report's starting value)."""
        return -math.log(1.0 / len(self.chars)) * self.config.seq_length

    @property
    def validating(self) -> bool:
        return self.config.val_fraction > 0

    @property
    def chars_per_update(self) -> int:
        return self.config.batch_size * self.config.seq_length

    @property
    def updates_per_epoch(self) -> int:
        return updates_per_epoch(self.config, len(self.data))

    @property
    def base_eta(self) -> float:
        """--eta: the learning rate before any decay."""
        eta = self.config.eta
        assert eta is not None  # TrainConfig sets it for every optimizer `validate` accepts
        return eta

    @property
    def eta(self) -> float:
        """The learning rate of the next update: the schedule's, times F^max(0, epochs done -
        E) with --lr-decay F (char-rnn's rule)."""
        config = self.config
        eta = schedule.learning_rate(config, self.iteration, config.schedule_end)
        if config.lr_decay == 1.0:
            return eta
        return eta * config.lr_decay ** max(0.0, (self.epoch - 1) - config.decay_after)

    @property
    def stopped_early(self) -> bool:
        """--patience evaluations in a row brought no better validation loss."""
        patience = self.config.patience
        return patience is not None and self.evaluations_since_best >= patience

    @property
    def val_loss(self) -> float | None:
        return float(self.history.val_loss[-1]) if len(self.history.val_loss) else None

    def default_eval_every(self) -> int:
        return default_eval_every(self.config, len(self.data))

    def target_iterations(self, iterations: int | None = None, epochs: float | None = None) -> int:
        """The total updates `iterations` or `epochs` ask for (2 epochs if neither is given)."""
        return target_iterations(self.config, len(self.data), iterations, epochs)

    def check_initial_loss(self) -> None:
        """OptionError naming --sigma when the first loss cannot be trained on (see the
        function `check_initial_loss`)."""
        check_initial_loss(self.model, self.train_data, self.config)

    def trouble(self, target: int | None = None) -> str | None:
        """A warning when training goes badly although the loss stays finite, else None."""
        after = max(_TROUBLE_AFTER, int(0.02 * (target or 0)))
        if self.iteration < after or self.smooth_loss <= self.initial_smooth_loss:
            return None
        return (
            f"training is going badly: after {self.iteration:,} updates the smooth loss "
            f"({self.smooth_loss:.4g}) is above where it started ({self.initial_smooth_loss:.4g}); "
            f"the learning rate eta = {self.base_eta:g} is probably too large: try one ten "
            f"times smaller, eta = {self.base_eta / 10:g} (--eta {self.base_eta / 10:g})"
        )

    # -- one update ----------------------------------------------------------------------------
    def next_chunk(self) -> tuple[np.ndarray, np.ndarray]:
        """The next (inputs, targets) of every stream, (n, B) each, starting a new epoch first
        when a chunk would run past the end of a segment."""
        n = self.config.seq_length
        if self.position + n + 1 > self.segment:
            self.position = 0
            self.state = self.model.zero_state(self.config.batch_size)
            self.epoch += 1
            self.history.start_epoch(self.iteration)
        index = self._stream_starts + self.position + self._steps
        return self.train_data[index], self.train_data[index + 1]

    def step(self) -> float:
        """One update on the next chunk of every stream; returns the chunk's loss."""
        started = time.perf_counter()
        inputs, targets = self.next_chunk()
        loss, cache = self.model.forward(
            inputs,
            targets,
            self.state,
            dropout=self.config.dropout,
            dropout_rng=self.dropout_rng,
        )
        # Diverged: NaN, inf, or too large for the float32 history (a huge eta makes the loss
        # grow by about eta per update, so it overflows float32 long before float64).
        if not abs(loss) <= _LARGEST_LOSS:
            raise DivergenceError(self.iteration + 1, loss, self.base_eta)
        grads = self.model.backward(cache, self.grads).flat
        g = np.clip(grads, -self.config.clip, self.config.clip, out=grads)
        self.optimizer.step(self.model.flat, g, self.eta)
        self.state = cache.final_state
        self.position += self.config.seq_length
        self.iteration += 1
        self.smooth_loss = 0.999 * self.smooth_loss + 0.001 * loss
        self.train_seconds += time.perf_counter() - started
        self.history.append(loss, self.smooth_loss, self.train_seconds)
        if not self.validating and self.smooth_loss < self.best_smooth_loss:
            self._new_best()
        if self.on_update is not None:
            self.on_update(self, cache)
        return loss

    def _new_best(self) -> None:
        np.copyto(self.best_flat, self.model.flat)
        self.best_smooth_loss = self.smooth_loss
        self.best_iteration = self.iteration

    # -- validation ----------------------------------------------------------------------------
    def evaluate(self, flat: np.ndarray | None = None) -> float:
        """The mean loss per character on the held-out text (nats), from a zero state."""
        model = self.model if flat is None else Model.from_flat(self.spec, flat)
        return evaluate_streams(model, self.val_data)

    def eval_due(self) -> bool:
        if not self.validating:
            return False
        return self.iteration % self.eval_every == 0 and not self._validated_now()

    def record_validation(self, scheduled: bool = True) -> float:
        """Evaluate now, record it, and keep the model if it is the best so far. A scheduled
        evaluation counts for --patience."""
        loss = self.evaluate()
        self.history.add_validation(self.iteration, loss)
        better = loss < self.best_val_loss
        if better:
            self.best_val_loss = loss
            self._new_best()
        if scheduled:
            self.evaluations_since_best = 0 if better else self.evaluations_since_best + 1
        return loss

    # -- samples -------------------------------------------------------------------------------
    def sample_due(self) -> bool:
        return (
            self.iteration % self.config.sample_every == 0
            and self.last_sample_iteration != self.iteration
        )

    def synthesize(self, length: int | None = None, interrupt=None) -> Sample:
        """A sample from stream 0's state and its next input character (the report's).

        `interrupt()` is asked every few hundred characters: when it says stop, the random
        generator is put back as it was and Interrupted raised, so the sample can be drawn
        again later, identically (a resumed run stays the uninterrupted one)."""
        length = self.config.sample_length if length is None else length
        text = self._sample_text(self.model, length, interrupt)
        return Sample(self.iteration, self.smooth_loss, text)

    def synthesize_best(self, length: int = 1000, interrupt=None) -> Sample:
        """The report's last section: text from the best model."""
        text = self._sample_text(self.best_params, length, interrupt)
        return Sample(self.best_iteration, self.best_smooth_loss, text, best=True)

    def _sample_text(self, model: Model, length: int, interrupt) -> str:
        state = [layer[:1].copy() for layer in self.state]
        x = int(self.train_data[self.position])
        before = self.rng.bit_generator.state
        ids = list(sampling.generate(model, state, x, length, self.rng, should_stop=interrupt))
        if len(ids) < length:
            self.rng.bit_generator.state = before
            raise Interrupted(f"sample stopped after {len(ids):,} of {length:,} characters")
        return "".join(self.chars[i] for i in ids)

    def _record_due_sample(self, interrupt=None) -> Sample | None:
        if not self.sample_due():
            return None
        sample = self.synthesize(interrupt=interrupt)
        self.samples.append(sample)
        self.last_sample_iteration = self.iteration
        return sample

    # -- many updates --------------------------------------------------------------------------
    def train(
        self,
        until_iteration: int,
        should_stop: Callable[[], bool] | None = None,
        on_sample: Callable[[Sample], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        progress_every: float = 0.25,
        interrupt: Callable[[], bool] | None = None,
        on_validation: Callable[[float], None] | None = None,
    ) -> int:
        """Update until `until_iteration` or until `should_stop()` is true; returns updates done.

        `should_stop` (a deadline, a waiting request) is asked only after the first update, so
        every call makes progress however soon it says stop. `interrupt` (a signal, quitting)
        is asked before every update and inside samples: a sample it stops is undone (see
        `synthesize`) and falls due again on the next call. Samples fall due before the first
        update and every `sample_every` updates, validation every `eval_every` updates and
        when the target is reached; progress is reported at most every `progress_every`
        seconds (and once at the end). A run stopped early (--patience) makes no update.
        """
        done = 0
        started = last_report = time.perf_counter()
        going, sample = self._due_work(False, interrupt, on_validation, on_sample)
        new_samples = [] if sample is None else [sample]
        while going and self.iteration < until_iteration and not self.stopped_early:
            if interrupt is not None and interrupt():
                break
            if done and should_stop is not None and should_stop():
                break
            self.step()
            done += 1
            reached = self.iteration >= until_iteration
            going, sample = self._due_work(reached, interrupt, on_validation, on_sample)
            if sample is not None:
                new_samples.append(sample)
            now = time.perf_counter()
            if on_progress is not None and now - last_report >= progress_every:
                on_progress(self.progress(done, now - started, new_samples))
                new_samples = []
                last_report = now
        if on_progress is not None:
            on_progress(self.progress(done, time.perf_counter() - started, new_samples))
        return done

    def _due_work(
        self,
        reached: bool,
        interrupt: Callable[[], bool] | None,
        on_validation: Callable[[float], None] | None,
        on_sample: Callable[[Sample], None] | None,
    ) -> tuple[bool, Sample | None]:
        """The validation and the sample due now, if any, with `reached` true when an update
        just reached the target: (False, None) when `interrupt` stopped the sample."""
        began = time.perf_counter()  # evaluations and samples count as training time
        try:
            if self.eval_due():
                loss = self.record_validation()
            elif reached and self.validating and not self._validated_now():
                loss = self.record_validation(scheduled=False)  # kept, never undone
            else:
                loss = None
            if loss is not None and on_validation:
                on_validation(loss)
            try:
                sample = self._record_due_sample(interrupt)
            except Interrupted:
                return False, None
            if sample is not None and on_sample:
                on_sample(sample)
            return True, sample
        finally:
            self.train_seconds += time.perf_counter() - began

    def _validated_now(self) -> bool:
        done = self.history.val_iterations
        return bool(len(done)) and done[-1] == self.iteration

    def progress(self, updates: int, seconds: float, new_samples=()) -> Progress:
        rate = updates * self.chars_per_update / seconds if seconds > 0 else 0.0
        return Progress(
            self.iteration,
            self.epoch,
            self.smooth_loss,
            self.best_smooth_loss,
            rate,
            list(new_samples),
            self.val_loss,
            self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            self.eta,
        )

    # -- state for checkpoints (store.checkpoint writes it; no pickles: arrays and strings) -----
    COUNTERS = (
        "position",
        "iteration",
        "epoch",
        "best_iteration",
        "last_sample_iteration",
    )
    LOSSES = ("smooth_loss", "best_smooth_loss", "best_val_loss", "train_seconds")
    # Counters newer checkpoints hold and older ones lack (read as 0: they had no patience).
    OPTIONAL_COUNTERS = ("evaluations_since_best",)
    # Wall-clock measurements: saved, but never the same twice, so every bit-for-bit
    # comparison of two states leaves them out.
    TIMING = ("seconds_history", "train_seconds")

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The whole training state as named arrays (checkpoint schema 2)."""
        arrays = {
            "params": self.model.flat,
            "best_params": self.best_flat,
            "loss_history": self.history.loss,
            "smooth_loss_history": self.history.smooth_loss,
            "seconds_history": self.history.seconds,
            "epoch_starts": self.history.epoch_starts,
            "val_iterations": self.history.val_iterations,
            "val_loss_history": self.history.val_loss,
            "rng_state": np.array(json.dumps(self.rng.bit_generator.state)),
            "dropout_rng_state": np.array(json.dumps(self.dropout_rng.bit_generator.state)),
        }
        for name, value in self.optimizer.state_arrays().items():
            arrays[f"opt.{name}"] = value
        for layer, value in enumerate(self.state):
            arrays[f"state.{layer}"] = value
        for name in self.COUNTERS + self.OPTIONAL_COUNTERS:
            arrays[name] = np.array(getattr(self, name), dtype=np.int64)
        # How many validation losses there are: bounds the two arrays that hold them.
        arrays["evaluations"] = np.array(len(self.history.val_loss), dtype=np.int64)
        for name in self.LOSSES:
            arrays[name] = np.array(getattr(self, name), dtype=np.float64)
        return arrays

    def load_state_arrays(self, arrays) -> None:
        """Restore exactly what `state_arrays` saved (after checking shapes)."""
        expected = self.model.flat.shape
        for name in ("params", "best_params"):
            if arrays[name].shape != expected:
                raise ValueError(
                    f"checkpoint {name} has shape {arrays[name].shape}, the model needs {expected}"
                )
        state = [np.asarray(arrays[f"state.{layer}"]) for layer in range(len(self.state))]
        for layer, value in enumerate(state):
            if value.shape != self.state[layer].shape:
                raise ValueError(
                    f"checkpoint state.{layer} has shape {value.shape}, the model needs "
                    f"{self.state[layer].shape}"
                )
        self.model.flat[...] = arrays["params"]
        self.best_flat[...] = arrays["best_params"]
        self.optimizer.load_state(
            {name: arrays[f"opt.{name}"] for name in self.optimizer.state_names}
        )
        self.state = [value.astype(self.model.flat.dtype, copy=True) for value in state]
        for name in self.COUNTERS:
            setattr(self, name, int(arrays[name]))
        for name in self.OPTIONAL_COUNTERS:
            setattr(self, name, int(arrays.get(name, 0)))
        for name in self.LOSSES:
            setattr(self, name, float(arrays[name]))
        self.history = LossHistory.from_arrays(
            arrays["loss_history"],
            arrays["smooth_loss_history"],
            arrays["epoch_starts"],
            arrays.get("seconds_history"),
            arrays.get("val_iterations", ()),
            arrays.get("val_loss_history", ()),
        )
        self.rng.bit_generator.state = json.loads(str(arrays["rng_state"]))
        self.dropout_rng.bit_generator.state = json.loads(str(arrays["dropout_rng_state"]))
