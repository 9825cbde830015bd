"""The run driver: one run being trained, for `tui-rnn train` and the app alike.

    run = Run.open(RunRequest(...), warn)      a new run, or a saved one resumed exactly
    while not run.done:
        run.train_slice(interrupt=...)          train until the next checkpoint falls due
    run.close()

It owns what both front ends need and must not do differently. Opening a run goes down the
layers once: the options are resolved (or, on resume, compared with the run's), the corpus is
loaded, every check is made, then the trainer is built once with its learning rate and target,
and only then is anything written. Then the save policy (a checkpoint every `save_every`
seconds of training, at every sample, when the target is reached, never the same state twice),
samples appended to samples.txt, validation, divergence (nothing after the last good checkpoint
is ever saved; `restore_last_good` puts it back), learning-rate and target changes (recorded in
config.json), the warning when training goes badly, and a time limit: turned into a target
before the first update (training/budget.py), then guarded by a clock that stops the run,
saved, if the machine turns out slower than measured. The CLI adds argparse, a progress bar
and signals; the app adds its engine thread and messages. Neither saves, samples or resumes on
its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tui_rnn.safe import files
from tui_rnn.store import checkpoint, live, rundir, samples
from tui_rnn.store import config as store_config
from tui_rnn.training import budget
from tui_rnn.training.corpus import Corpus, CorpusError, load_corpus
from tui_rnn.training.history import Progress, Sample
from tui_rnn.training.options import (
    BY_NAME,
    PRESET_RUN_OPTIONS,
    PUBLISH_EVERY,
    RUN_BY_NAME,
    OptionError,
    TrainConfig,
    format_duration,
    make_schedule,
    resolve,
    resumed_config,
)
from tui_rnn.training.trainer import (
    Trainer,
    check_run,
    default_eval_every,
    target_iterations,
)

DEFAULT_SAVE_EVERY = 10.0  # seconds of training between automatic checkpoints
DEFAULT_PUBLISH_EVERY = 2.0  # seconds between records in live.bin (PUBLISH_EVERY's default)
Warn = Callable[[str], None]


@dataclass
class RunRequest:
    """What a user asked for (from the command line or the app's new-run form).

    None means "not given": a new run takes the preset's or the default value, a resumed run
    its own.
    """

    corpus: str | None = None
    encoding: str | None = None
    options: dict[str, object] = field(default_factory=dict)  # TrainConfig field -> value
    preset: str | None = None
    iterations: int | None = None
    epochs: float | None = None
    run_dir: str | None = None
    resume: str | None = None
    save_every: float | None = None
    time_limit: float | None = None  # seconds
    # When the time limit began (time.monotonic()): the command's start, so that start-up
    # counts too. None: when the run is opened.
    started: float | None = None
    publish_every: float | None = None


class Run:
    """A trainer, its corpus and run directory, its target, and the policy for saving it."""

    def __init__(
        self,
        trainer: Trainer,
        corpus: Corpus | None,
        run_dir: Path,
        document: dict,
        target: int,
        save_every: float,
        *,
        created: bool = True,
        publish_every: float = DEFAULT_PUBLISH_EVERY,
    ):
        self.trainer = trainer
        self.corpus = corpus
        self.run_dir = Path(run_dir)
        self.document = document  # config.json as it is on disk (or will be, once created)
        self.target = int(target)
        self.save_every = float(save_every)
        self.created = created
        self.saved_iteration = trainer.iteration if created else None
        self._unsaved = not created
        self._next_save = math.inf
        self._trouble_said = False
        self._locked = created
        # A time limit's clock: seconds of training left before the run must stop (None: no
        # limit), counted down inside train_slice; time_up once it ran out before the target.
        self.time_left: float | None = None
        self.time_up = False
        # What the run's viewers follow (store/live.py), once this process holds the lock.
        self.publish_every = float(publish_every)
        self.publisher: live.Publisher | None = None
        self.live_state = live.TRAINING
        self._next_publish = math.inf
        self.warn: Warn | None = None  # hears why publishing stopped, if it does

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, request: RunRequest, warn: Warn, *, lazy: bool = False) -> Run:
        """A new run (its directory made now, or with `lazy` at its first save) or, with
        `request.resume`, a saved one in exactly the state of its newest good checkpoint. The
        run's lock is held by this process from then on (`close` releases it)."""
        if request.resume:
            run = cls._resume(request, Path(request.resume), warn, lazy)
        else:
            run = cls._start(request, warn, lazy)
        run.warn = warn
        return run

    @classmethod
    def _start(cls, request: RunRequest, warn: Warn, lazy: bool) -> Run:
        started = time.monotonic() if request.started is None else request.started
        config = resolve(request.options, request.preset)
        time_limit = cls._time_limit(request)
        encoding = request.encoding or "utf-8"
        corpus = load_corpus(request.corpus, encoding=encoding)
        save_every = DEFAULT_SAVE_EVERY if request.save_every is None else request.save_every
        speed = None
        try:  # before the run directory exists: a refusal leaves nothing behind
            target = check_run(config, corpus, request.iterations, request.epochs)
            if time_limit is not None:
                speed, target = cls._measure(
                    config, corpus, time_limit, started, save_every, set_threads=not lazy
                )
            if config.needs_schedule_end:  # the schedule is made for this run's length
                make_schedule(config, request.options, target)
            trainer = Trainer(corpus.data, corpus.chars, config)
        except MemoryError:
            raise OptionError(
                f"not enough memory for a model with --hidden {config.hidden_size}: use a "
                "smaller --hidden"
            ) from None
        if "\r" in corpus.chars:  # said once, when the run begins
            warn(
                f"{corpus.name} has carriage returns (\\r, Windows line endings): the model "
                "learns \\r as a character of its own; convert the file (e.g. dos2unix) and "
                "start a new run if that is not what you want"
            )
        requested: dict[str, object] = {"iterations": request.iterations, "epochs": request.epochs}
        if time_limit is not None:
            requested["time_limit"] = time_limit
        document = store_config.config_document(
            config,
            corpus,
            encoding=encoding,
            save_every=save_every,
            target_iterations=target,
            requested=requested,
            eta_changes=[],
        )
        run_dir = Path(request.run_dir) if request.run_dir else rundir.new_run_dir()
        run = cls(
            trainer,
            corpus,
            run_dir,
            document,
            target,
            save_every,
            created=False,
            publish_every=_publish_every(request),
        )
        if speed is not None and time_limit is not None:
            run._time_limit_fixed(time_limit, speed, started, 0)
        if lazy:
            rundir.refuse_existing_run(run_dir)  # say so now, not at the first save
        else:
            run.create()
        return run

    @staticmethod
    def _time_limit(request: RunRequest) -> float | None:
        """The time limit asked for: --time-limit, or the preset's unless --iterations or
        --epochs is given (a resumed run takes only an explicit one)."""
        flag = RUN_BY_NAME["time_limit"]
        if request.time_limit is not None:
            if request.iterations is not None or request.epochs is not None:
                other = "--iterations" if request.iterations is not None else "--epochs"
                raise OptionError(
                    f"--time-limit and {other} both say how long to train: give one of them"
                )
            return flag.check(request.time_limit)
        if request.resume or request.iterations is not None or request.epochs is not None:
            return None
        preset = PRESET_RUN_OPTIONS.get(request.preset or "report", {})
        value = preset.get("time_limit")
        return None if value is None else flag.check(value)

    @staticmethod
    def _measure(
        config: TrainConfig,
        corpus: Corpus,
        time_limit: float,
        started: float,
        save_every: float,
        params=None,
        set_threads: bool = True,
    ) -> tuple[budget.Speed, int]:
        """(this machine's speed, the updates that fit in what is left of `time_limit`). A
        lazy open is the app's, where another run may be training: its BLAS threads are left
        as they are (see budget.measure)."""
        seconds = budget.measuring_seconds(time_limit)
        speed = budget.measure(config, corpus.data, corpus.chars, params, seconds, set_threads)
        spent = time.monotonic() - started
        eval_every = config.eval_every or default_eval_every(config, len(corpus))
        updates = budget.updates_within(speed, time_limit - spent, config, eval_every, save_every)
        if updates < 1:
            raise OptionError(
                f"--time-limit {format_duration(time_limit)} leaves no time to train: starting "
                f"and measuring took {spent:.1f} s, and this run's validation passes, samples "
                f"and checkpoints take about {speed.overhead(config):.1f} s more here; give a "
                "longer --time-limit"
                + (" or a smaller --val-fraction" if config.val_fraction else "")
            )
        return speed, updates

    def _time_limit_fixed(
        self, time_limit: float, speed: budget.Speed, started: float, iteration: int
    ) -> None:
        """Record the target a time limit fixed, and start its clock: what is left of the
        limit once the run's ending is set aside."""
        store_config.record_time_limit(
            self.document,
            {
                "iteration": iteration,
                "seconds": time_limit,
                "seconds_per_update": speed.update,
                "target": self.target,
            },
        )
        ending = speed.overhead(self.trainer.config) / 2  # the half that comes at the end
        self.time_left = time_limit - (time.monotonic() - started) - ending
        self.time_up = False

    @classmethod
    def new(
        cls,
        trainer: Trainer,
        corpus: Corpus | None,
        run_dir: str | Path,
        target: int,
        *,
        save_every: float = DEFAULT_SAVE_EVERY,
        create: bool = True,
        publish_every: float = DEFAULT_PUBLISH_EVERY,
        **extra,
    ) -> Run:
        """A new run of an existing trainer (tests, benchmarks): made on disk now unless
        `create` is False (then at its first save, or never: a run only read)."""
        document = {}
        if corpus is not None:
            document = store_config.config_document(
                trainer.config, corpus, target_iterations=int(target), eta_changes=[], **extra
            )
        run = cls(
            trainer,
            corpus,
            Path(run_dir),
            document,
            target,
            save_every,
            created=False,
            publish_every=publish_every,
        )
        if create:
            run.create()
        return run

    def create(self) -> None:
        """Make the run directory: lock, config.json, a first checkpoint (no-op once made)."""
        if self.created:
            return
        began = time.monotonic()
        self.run_dir = rundir.prepare_run_dir(self.run_dir)
        rundir.lock_run(self.run_dir)
        self._locked = True
        try:
            # Under the lock: another process may have begun a run here meanwhile.
            rundir.refuse_existing_run(self.run_dir)
            store_config.write_config_document(self.run_dir, self.document)
            checkpoint.save_checkpoint(self.run_dir, self.trainer)
        except BaseException:
            rundir.abandon_new_run(self.run_dir)  # no config.json without a checkpoint is left
            self.close()
            raise
        self.created = True
        self.saved_iteration = self.trainer.iteration
        self._unsaved = False
        if self.time_left is not None:  # the first checkpoint is part of the time limit
            self.time_left -= time.monotonic() - began
        self._begin_publishing(new=True)

    @classmethod
    def _resume(cls, request: RunRequest, run_dir: Path, warn: Warn, lazy: bool = False) -> Run:
        started = time.monotonic() if request.started is None else request.started
        time_limit = cls._time_limit(request)
        document = store_config.read_config(run_dir)
        checkpoint.check_has_checkpoint(run_dir)
        saved = TrainConfig.from_dict(document["config"])
        config = resumed_config(saved, request.options, request.preset)
        if request.run_dir and Path(request.run_dir).resolve() != run_dir.resolve():
            raise OptionError(
                "--run-dir and --resume both given: a resumed run stays in its directory"
            )
        corpus = cls._run_corpus(request, run_dir, document)
        # The run's own target (2 epochs if it recorded none), or the one asked for now.
        two_epochs = target_iterations(config, len(corpus))
        saved_target = int(document.get("target_iterations", two_epochs))
        target = saved_target
        if request.iterations is not None or request.epochs is not None:
            target = target_iterations(config, len(corpus), request.iterations, request.epochs)
        save_every = request.save_every or document.get("save_every", DEFAULT_SAVE_EVERY)
        rundir.lock_run(run_dir)
        try:
            trainer = checkpoint.restore_trainer(run_dir, corpus, warn, document, config)
            speed = None
            if time_limit is not None:  # this much more: measured again, a new target
                speed, more = cls._measure(
                    config, corpus, time_limit, started, save_every, trainer.model.flat, not lazy
                )
                target = trainer.iteration + more
            if trainer.base_eta != saved.eta:
                store_config.record_eta_change(document, trainer.iteration, trainer.base_eta)
            if trainer.config.patience != saved.patience:
                document["config"]["patience"] = trainer.config.patience
            cls._update_document(document, trainer, corpus, target, saved_target)
            run = cls(
                trainer,
                corpus,
                run_dir,
                document,
                target,
                save_every,
                publish_every=_publish_every(request),
            )
            if speed is not None and time_limit is not None:
                run._time_limit_fixed(time_limit, speed, started, trainer.iteration)
            store_config.write_config_document(run_dir, document)
            run._begin_publishing(new=False)
        except BaseException:
            rundir.unlock_run(run_dir)
            raise
        return run

    @staticmethod
    def _run_corpus(request: RunRequest, run_dir: Path, document: dict) -> Corpus:
        """The saved run's corpus, or the one the request names, in the run's encoding."""
        encoding = document.get("encoding", "utf-8")
        if request.encoding not in (None, encoding):
            raise OptionError(f"--encoding {request.encoding} conflicts with the run's {encoding}")
        retry = f"tui-rnn train CORPUS --resume {run_dir}"
        corpus_path = checkpoint.run_corpus_path(document, request.corpus, retry)
        try:
            return checkpoint.fit_vocabulary(document, load_corpus(corpus_path, encoding))
        except CorpusError as err:
            raise files.RunError(
                f"cannot load the run's corpus: {err} (or give it: tui-rnn train CORPUS "
                f"--resume {run_dir})"
            ) from None

    @staticmethod
    def _update_document(
        document: dict, trainer: Trainer, corpus: Corpus, target: int, saved: int
    ) -> None:
        """config.json as a resumed run goes on: schema 2, its corpus, and its target. A target
        the run is already past trains nothing (the caller says so): the run keeps the one it
        had, so that listings never show an iteration beyond its target."""
        if not store_config.has_corpus(document):
            # An imported model's first corpus becomes the run's own, checked from now on.
            document["corpus"] = store_config.corpus_record(corpus)
            document["config"] = trainer.config.to_dict()
        if document.get("schema_version", 1) < rundir.SCHEMA_VERSION:
            # A schema 1 run: from now on its checkpoints are schema 2, so is its config.
            document["schema_version"] = rundir.SCHEMA_VERSION
            document["config"] = trainer.config.to_dict()
        if target < trainer.iteration:
            target = max(saved, trainer.iteration)
        document["target_iterations"] = target

    def close(self) -> None:
        """Say how the trainer ended (finished, or stopped unless it said otherwise) to the
        run's viewers, and release the run's lock (the state is whatever was last saved)."""
        if self.publisher is not None:
            if self.live_state in live.RUNNING_STATES:
                self.publish(live.FINISHED if self.done else live.STOPPED)
            self.publisher.close()
            self.publisher = None
        if self._locked:
            rundir.unlock_run(self.run_dir)
            self._locked = False

    # -- publishing: what the run's viewers follow ---------------------------------------------
    def _begin_publishing(self, new: bool) -> None:
        """Under the run's lock: live.bin emptied (a new run) or cut back to the checkpoint
        just restored (see live.Publisher.begin); then records every publish_every seconds."""
        self.publisher = live.Publisher(self.run_dir, self.publish_every)
        self.publisher.begin(self.trainer, checkpoint.samples_size(self.run_dir), new=new)
        self._said_publishing_problem()
        if self.publisher.on:
            self._next_publish = time.monotonic() + self.publish_every

    def publish(self, state: str | None = None, message: str | None = None) -> None:
        """Publish now what changed, with the trainer's state (TRAINING, PAUSED, FINISHED,
        STOPPED, FAILED; default: as last said)."""
        if state is not None:
            self.live_state = state
        publisher = self.publisher
        if publisher is not None and publisher.on:
            publisher.publish(
                self.trainer,
                self.live_state,
                target=self.target,
                checkpoint=self.saved_iteration,
                message=message,
            )
        on = publisher is not None and publisher.on
        self._next_publish = time.monotonic() + self.publish_every if on else math.inf
        self._said_publishing_problem()

    def _said_publishing_problem(self) -> None:
        publisher = self.publisher
        if publisher is not None and publisher.problem and self.warn is not None:
            self.warn(publisher.problem)
            self.warn = None  # said once

    # -- what it is --------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """The target is reached, or --patience stopped the run."""
        return self.trainer.iteration >= self.target or self.trainer.stopped_early

    @property
    def requested_epochs(self) -> float:
        """The epochs the run was started with (2 if it asked for iterations or nothing)."""
        epochs = (self.document.get("requested") or {}).get("epochs")
        return float(epochs) if isinstance(epochs, int | float) and epochs > 0 else 2.0

    # -- saving ------------------------------------------------------------------------------------
    @property
    def unsaved(self) -> bool:
        return self._unsaved or self.trainer.iteration != self.saved_iteration

    def save(self) -> Path:
        """A checkpoint of the state as it is now (creating the run first if it is new)."""
        if not self.created:
            self.create()
        else:
            checkpoint.save_checkpoint(self.run_dir, self.trainer)
        self.saved_iteration = self.trainer.iteration
        self._unsaved = False
        self._next_save = time.monotonic() + self.save_every
        return self.run_dir / rundir.CHECKPOINT_FILE

    def save_if_unsaved(self) -> bool:
        """Save unless the checkpoint already holds this state (a second save of the same
        state would push the previous good checkpoint out); True if it saved."""
        if self.created and not self.unsaved:
            self._next_save = time.monotonic() + self.save_every
            return False
        self.save()
        return True

    def record_sample(self, sample: Sample) -> None:
        """Append a sample to samples.txt and save at once: it moved the random generator."""
        if not self.created:
            self.create()
        size = samples.append_sample(self.run_dir, sample)
        self._unsaved = True
        self.save()
        if self.publisher is not None:
            length = len(samples.format_sample(sample).encode("utf-8"))
            self.publisher.sample(sample, size - length, length)
            self.publish()

    # -- training ----------------------------------------------------------------------------------
    def train_slice(
        self,
        *,
        interrupt: Callable[[], bool] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_sample: Callable[[Sample], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_validation: Callable[[float], None] | None = None,
        progress_every: float = 0.25,
    ) -> int:
        """Train until the target, until `should_stop()` (a waiting request) or `interrupt()`
        (a signal, quitting), or until the next checkpoint falls due; then save if one is due
        or the target was reached. Samples are recorded (and saved) as they come. Returns the
        updates made. Raises DivergenceError with nothing of the bad state saved (see
        `restore_last_good`), RunWriteError when the disk refuses."""
        if not self.created:
            self.create()
        began = time.monotonic()
        if math.isinf(self._next_save):
            self._next_save = began + self.save_every
        deadline = self._next_save
        if self.time_left is not None:
            deadline = min(deadline, began + self.time_left)
        self.live_state = live.TRAINING

        def stop() -> bool:
            now = time.monotonic()
            if now >= self._next_publish:
                self.publish()
            return (
                now >= deadline
                or (should_stop is not None and should_stop())
                # A run going badly ends its slice, so that the caller says so at once, not
                # at the next checkpoint (seconds or minutes later).
                or (not self._trouble_said and self.trainer.trouble(self.target) is not None)
            )

        def sampled(sample: Sample) -> None:
            self.record_sample(sample)
            if on_sample is not None:
                on_sample(sample)

        updates = self.trainer.train(
            self.target,
            should_stop=stop,
            on_sample=sampled,
            on_progress=on_progress,
            progress_every=progress_every,
            interrupt=interrupt,
            on_validation=on_validation,
        )
        if updates:
            self._unsaved = True
        if self.time_left is not None:
            self.time_left -= time.monotonic() - began
            if self.time_left <= 0 and not self.done:
                # The machine was slower than measured: stop here, saved; the target stays,
                # so resuming trains the rest (the limit is spent: it stops a run once).
                self.time_up = True
                self.time_left = None
        if self.done or self.time_up or time.monotonic() >= self._next_save:
            self.save_if_unsaved()
        if self.done:
            self.publish(live.FINISHED)
        elif time.monotonic() >= self._next_publish:
            self.publish()
        return updates

    def restore_last_good(self, warn: Warn | None = None) -> int:
        """After a divergence: the newest good checkpoint back in the trainer (the learning
        rate as it is now); returns its iteration."""
        iteration = checkpoint.restore_into(self.trainer, self.run_dir, warn)
        self.saved_iteration = iteration
        self._unsaved = False
        if self.publisher is not None and self.publisher.on:
            self.publisher.restart(self.trainer)  # viewers drop what came after it
            self.publish(live.PAUSED)
        return iteration

    def trouble(self) -> str | None:
        """Once per run session: a warning when training goes badly although the loss stays
        finite (see Trainer.trouble), with what to try."""
        if self._trouble_said:
            return None
        message = self.trainer.trouble(self.target)
        if message:
            self._trouble_said = True
        return message

    # -- changes the user makes ------------------------------------------------------------------
    def set_eta(self, eta: float) -> None:
        """A new learning rate from now on, recorded in config.json's eta_changes."""
        eta = BY_NAME["eta"].check(eta)
        if eta == self.trainer.config.eta:
            return
        self.trainer.config.eta = eta
        store_config.record_eta_change(self.document, self.trainer.iteration, eta)
        self._trouble_said = False
        if self.created:
            store_config.write_config_document(self.run_dir, self.document)

    def set_target(self, iterations: int | None = None, epochs: float | None = None) -> int:
        """A new target (the run's total, as --iterations / --epochs count it), above the
        iteration: OptionError for one the run has passed (the app's form checks it too, but
        the run trains on in another thread until the request is served)."""
        requested = self.trainer.target_iterations(iterations, epochs)
        if requested <= self.trainer.iteration:
            raise OptionError(
                f"target {requested:,} not set: the run is already at iter "
                f"{self.trainer.iteration:,}"
            )
        self.target = requested
        self.document["target_iterations"] = self.target
        if self.created:
            store_config.write_config_document(self.run_dir, self.document)
        return self.target

    def extend_target(self) -> int:
        """Training on past the target: another --epochs' worth (2 epochs if none was asked)."""
        more = max(1, round(self.requested_epochs * self.trainer.updates_per_epoch))
        return self.set_target(iterations=max(self.target, self.trainer.iteration) + more)


def _publish_every(request: RunRequest) -> float:
    if request.publish_every is None:
        return DEFAULT_PUBLISH_EVERY
    return float(PUBLISH_EVERY.check(request.publish_every))
