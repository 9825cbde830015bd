"""Checkpoints: the whole training state of a run, written atomically and read strictly.

A run directory holds

    config.json          every option, the corpus (path, size, sha256), the vocabulary, versions
    checkpoint.npz       the training state (Trainer.state_arrays), the schema version, and how
                         much of samples.txt that state accounts for
    checkpoint.prev.npz  the checkpoint before it, kept in case the newest is damaged
    samples.txt          every sample, appended as it comes
    .lock                held (flock) by the process training the run
    live.bin             what the trainer publishes for viewers (store/live.py): never read
                         back into a trainer, and no checkpoint refers to it

A checkpoint holds named arrays and strings, never a pickle. It is written to a temporary file
in the run directory, fsynced and renamed over the old one, which is kept first as
checkpoint.prev.npz: a crash at any moment (kill -9, power loss, full disk) leaves a loadable
one. It is read through tui_rnn.safe.npz against config.json: the counters first (they size the
history), then every array's dtype and exact shape before its bytes. A newest checkpoint that
cannot be read is damage: a warning, and checkpoint.prev.npz is used. Schema 1 checkpoints are
read under schema 2's names, bit for bit.

What is read back, and no more: a trainer to continue (restore_trainer), a model to use
(load_model), a history to chart (read_history), the counters alone (read_counters).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tui_rnn.cells.model import Model
from tui_rnn.safe import files
from tui_rnn.safe.files import MissingRunFile, RunError, RunWriteError
from tui_rnn.safe.npz import Expect, NpzError, NpzMismatch, NpzReader
from tui_rnn.store.config import FutureSchemaError, has_corpus, read_config
from tui_rnn.store.rundir import (
    CHECKPOINT_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    SAMPLES_FILE,
    SCHEMA_VERSION,
)
from tui_rnn.store.samples import read_samples, repair_samples
from tui_rnn.training.corpus import (
    Corpus,
    CorpusError,
    UnknownCharactersError,
    in_vocabulary,
    load_corpus,
)
from tui_rnn.training.optim import CLASSES as OPTIMIZER_CLASSES
from tui_rnn.training.options import TrainConfig
from tui_rnn.training.trainer import DivergenceError, Trainer, model_spec

# The counters, read first: small, fixed shapes, and they bound the history arrays. Schema 2
# names each one; schema 1 packed them in two positional arrays.
_INT, _FLOAT = Expect("iu", ()), Expect("f", ())
_COUNTERS = {
    2: {
        "schema_version": _INT,
        **{name: _INT for name in Trainer.COUNTERS},
        "evaluations": _INT,
        **{name: _FLOAT for name in Trainer.LOSSES},
    },
    1: {
        "schema_version": _INT,
        "scalars": Expect("iu", (5,)),  # position, iteration, epoch, best iteration, last sample
        "losses": Expect("f", (2,)),  # smooth loss, best smooth loss
    },
}


# Present only in a checkpoint that older versions took at a target reached off the
# --eval-every schedule, to undo that evaluation when training went on: the best model's counters
# before it, all or none. Still checked when read, then ignored: a run keeps its target's
# evaluation.
_UNDO_COUNTERS = {
    "undo.best_iteration": _INT,
    "undo.best_smooth_loss": _FLOAT,
    "undo.best_val_loss": _FLOAT,
}


# Counters added after schema 2 began: a checkpoint without them is read with 0 (see
# Trainer.OPTIONAL_COUNTERS), so older runs still load and resume bit for bit.
_LATER_COUNTERS = {name: _INT for name in Trainer.OPTIONAL_COUNTERS}
_OPTIONAL = {"samples_bytes": Expect("iu", ()), **_UNDO_COUNTERS, **_LATER_COUNTERS}


CHECKPOINTS = ("best", "latest")  # a run's models, as a user names them (load_model's best)
RNG_STATE_MAX_CHARS = 1024  # PCG64's state as JSON is about 150 characters


def parse_rng_state(text: str) -> dict:
    """The PCG64 state a checkpoint stores as JSON, checked field by field (ValueError)."""
    if len(text) > RNG_STATE_MAX_CHARS:
        raise ValueError(f"rng_state is {len(text):,} characters long")
    try:
        state = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"rng_state is not JSON ({err})") from None
    inner = state.get("state") if isinstance(state, dict) else None
    if (
        not isinstance(inner, dict)
        or set(state) != {"bit_generator", "state", "has_uint32", "uinteger"}
        or state["bit_generator"] != "PCG64"
        or set(inner) != {"state", "inc"}
        or not all(_integer_in(inner[k], 0, 1 << 128) for k in ("state", "inc"))
        or not _integer_in(state["has_uint32"], 0, 2)
        or not _integer_in(state["uinteger"], 0, 1 << 32)
    ):
        raise ValueError("rng_state is not a PCG64 state")
    return state


def _integer_in(value, low: int, stop: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < stop


def _named_counters(counters: dict, version: int) -> dict:
    """Schema 2's named counters (Python numbers), from either schema's arrays."""
    if version == 1:
        position, iteration, epoch, best_iteration, last_sample = (
            int(v) for v in counters["scalars"]
        )
        smooth, best = (float(v) for v in counters["losses"])
        return {
            "position": position,
            "iteration": iteration,
            "epoch": epoch,
            "best_iteration": best_iteration,
            "last_sample_iteration": last_sample,
            "evaluations": 0,
            "smooth_loss": smooth,
            "best_smooth_loss": best,
            "best_val_loss": math.inf,
            "train_seconds": 0.0,
        }
    named: dict[str, int | float] = {
        name: int(counters[name]) for name in (*Trainer.COUNTERS, "evaluations")
    }
    named.update({name: float(counters[name]) for name in Trainer.LOSSES})
    named.update({name: int(counters.get(name, 0)) for name in Trainer.OPTIONAL_COUNTERS})
    undo = [name in counters for name in _UNDO_COUNTERS]
    if any(undo) and not all(undo):
        raise _Damage("it holds some of the undo.* counters but not all")
    named["undo"] = int(all(undo))
    return named


def checkpoint_layout(document: dict, counters: dict, version: int = SCHEMA_VERSION) -> dict:
    """The arrays a checkpoint of this run holds besides the counters, with their dtype kinds
    and exact shapes: the model's and the optimizer's from config.json, the history's from the
    counters (`counters` as `_named_counters` gives them).

    The one place that says what a checkpoint looks like: a new model type or schema version
    adds its named arrays here (and Trainer.state_arrays writes them). A counter added within a
    schema is optional (`_LATER_COUNTERS`): older checkpoints lack it."""
    config = TrainConfig.from_dict(document["config"])
    spec = model_spec(config, len(document["vocabulary"]))
    count = spec.param_count
    iteration, epoch = counters["iteration"], counters["epoch"]
    rng = Expect("U", (), RNG_STATE_MAX_CHARS)
    if version == 1:
        return {
            "params": Expect("f", (count,)),
            "memory": Expect("f", (count,)),
            "best_params": Expect("f", (count,)),
            "h": Expect("f", (config.hidden_size,)),
            "loss_history": Expect("f", (iteration,)),
            "smooth_loss_history": Expect("f", (iteration,)),
            "epoch_starts": Expect("iu", (epoch,)),
            "rng_state": rng,
        }
    optimizer = OPTIMIZER_CLASSES[config.optimizer]
    evaluations = counters["evaluations"]
    state = (config.batch_size, spec.state_width)
    return {
        "params": Expect("f", (count,)),
        "best_params": Expect("f", (count,)),
        **{
            f"opt.{name}": Expect(kinds, shape)
            for name, (kinds, shape) in optimizer.state_layout(count).items()
        },
        **{f"state.{layer}": Expect("f", state) for layer in range(config.layers)},
        "loss_history": Expect("f", (iteration,)),
        "smooth_loss_history": Expect("f", (iteration,)),
        "seconds_history": Expect("f", (iteration,)),
        "epoch_starts": Expect("iu", (epoch,)),
        "val_iterations": Expect("iu", (evaluations,)),
        "val_loss_history": Expect("f", (evaluations,)),
        "rng_state": rng,
        "dropout_rng_state": rng,
        **({"undo.best_params": Expect("f", (count,))} if counters.get("undo") else {}),
    }


def upgrade_schema_1(arrays: dict, document: dict) -> dict:
    """A schema 1 checkpoint's arrays under schema 2's names (the same numbers, bit for bit):
    AdaGrad's memory, the hidden state as stream 0 of layer 0, named counters; what schema 1
    did not record (timings, validation) is empty, and the dropout stream starts where a new
    run's would (schema 1 runs have no dropout)."""
    counters = _named_counters(arrays, 1)
    seed = TrainConfig.from_dict(document["config"]).seed
    dropout_rng = np.random.Generator(np.random.PCG64([seed, 1]))
    upgraded = {
        "params": arrays["params"],
        "best_params": arrays["best_params"],
        "opt.memory": arrays["memory"],
        "state.0": arrays["h"].reshape(1, -1),
        "loss_history": arrays["loss_history"],
        "smooth_loss_history": arrays["smooth_loss_history"],
        "seconds_history": np.zeros(counters["iteration"], dtype=np.float32),
        "epoch_starts": arrays["epoch_starts"],
        "val_iterations": np.zeros(0, dtype=np.int64),
        "val_loss_history": np.zeros(0, dtype=np.float64),
        "rng_state": arrays["rng_state"],
        "dropout_rng_state": np.array(json.dumps(dropout_rng.bit_generator.state)),
        "schema_version": np.array(1),
    }
    for name, value in counters.items():
        kind = np.int64 if isinstance(value, int) else np.float64
        upgraded[name] = np.array(value, dtype=kind)
    if "samples_bytes" in arrays:
        upgraded["samples_bytes"] = arrays["samples_bytes"]
    return upgraded


class _Damage(ValueError):
    """A checkpoint whose arrays read well but whose values cannot be a run's."""


def _check_counters(counters: dict, document: dict) -> None:
    characters = document["corpus"]["characters"] or 1  # none: an imported model, never trained
    c = counters
    if not (
        0 <= c["position"] < characters
        and c["iteration"] >= 0
        and 1 <= c["epoch"] <= c["iteration"] + 1
        and 0 <= c["best_iteration"] <= c["iteration"]
        and -1 <= c["last_sample_iteration"] <= c["iteration"]
        and 0 <= c["evaluations"] <= c["iteration"] + 1
        and 0 <= c.get("evaluations_since_best", 0) <= c["evaluations"]
    ):
        raise _Damage("its counters are impossible")
    if c.get("undo") and c["evaluations"] < 1:
        raise _Damage("its undo.* arrays belong to no evaluation at its iteration")
    if not all(math.isfinite(c[name]) for name in ("smooth_loss", "best_smooth_loss")):
        raise _Damage("its smooth loss is not finite")


def _check_values(arrays: dict, document: dict) -> None:
    config = TrainConfig.from_dict(document["config"])
    dtype = np.dtype(config.dtype)
    for name, value in arrays.items():
        if name.startswith(("params", "best_params", "opt.", "state.", "undo.best_params")):
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise _Damage(f"it holds non-finite {name}")
    if any(
        arrays[name].dtype != dtype
        for name in ("params", "best_params", "undo.best_params")
        if name in arrays
    ):
        raise _Damage(f"its parameters are {arrays['params'].dtype}, the run's are {dtype}")
    for name in ("opt.memory", "opt.mean_square", "opt.v"):
        if name in arrays and (arrays[name] < 0).any():
            raise _Damage(f"it holds a negative {name}")
    iteration = int(arrays["iteration"])
    starts = arrays["epoch_starts"]
    if starts[0] != 0 or (np.diff(starts) < 0).any() or starts[-1] > iteration:
        raise _Damage("its epoch_starts are impossible")
    evaluated = arrays["val_iterations"]
    if len(evaluated) and (
        evaluated[0] < 0 or (np.diff(evaluated) <= 0).any() or evaluated[-1] > iteration
    ):
        raise _Damage("its validation iterations are impossible")
    if "undo.best_params" in arrays and not (len(evaluated) and evaluated[-1] == iteration):
        raise _Damage("its undo.* arrays belong to no evaluation at its iteration")
    for name in ("rng_state", "dropout_rng_state"):
        try:
            parse_rng_state(str(arrays[name]))
        except ValueError as err:
            raise _Damage(str(err).replace("rng_state", name, 1)) from None


# What a chart of the run needs besides the counters (never the parameters). Schema 1 lacks the
# last three: read_history gives them empty.
HISTORY_MEMBERS = (
    "smooth_loss_history",
    "epoch_starts",
    "seconds_history",
    "val_iterations",
    "val_loss_history",
)


@contextmanager
def _checkpoint_errors(path: Path):
    """Every way reading a checkpoint can fail, as one line naming the file."""
    try:
        yield
    except MissingRunFile:
        raise MissingRunFile(f"checkpoint {path} is missing") from None
    except NpzMismatch as err:  # a sound archive of another shape: which of the two is wrong?
        raise RunError(
            f"checkpoint {path} does not fit its config.json ({err}): one of them is damaged"
        ) from None
    except (NpzError, _Damage) as err:
        raise RunError(f"checkpoint {path} is truncated or corrupt: {err}") from None
    except OSError as err:  # the disk failed while reading
        raise RunError(f"cannot read checkpoint {path}: {files.describe(err)}") from None
    except RunError as err:  # refused by safe.files: a link, a pipe, permission denied
        if isinstance(err, FutureSchemaError):
            raise
        raise RunError(f"cannot read checkpoint {err}") from None


def load_checkpoint_file(
    path: str | Path, document: dict | None = None, members: Collection[str] | None = None
) -> dict[str, np.ndarray]:
    """Read one checkpoint strictly (never unpickling), against its run's config.json.

    Returns schema 2's arrays whatever the file's schema (a schema 1 checkpoint is upgraded,
    see `upgrade_schema_1`). `document` is the run's config (read from the checkpoint's
    directory if not given). With `members`, only the counters and those arrays are read (the
    headers of all the others are still checked, their bytes never read; no upgrade: a schema 1
    file gives what it has, with `schema_version`). Raises MissingRunFile, FutureSchemaError,
    or RunError saying how it is damaged.
    """
    path = Path(path)
    document = read_config(path.parent) if document is None else document
    with _checkpoint_errors(path):
        with files.open_read(path) as f:
            npz = NpzReader(f)
            version = int(npz.read("schema_version", _INT))
            if version > SCHEMA_VERSION:
                raise FutureSchemaError(
                    f"checkpoint {path} has schema version {version}, newer than this tui-rnn "
                    f"understands ({SCHEMA_VERSION}): upgrade tui-rnn"
                )
            if version < 1:
                raise _Damage(f"its schema version {version} is impossible")
            names = set(npz.names)
            optional = {name: e for name, e in _OPTIONAL.items() if name in names}
            counter_layout = {**_COUNTERS[version], **optional}
            arrays = {name: npz.read(name, e) for name, e in counter_layout.items()}
            counters = _named_counters(arrays, version)
            _check_counters(counters, document)
            layout = checkpoint_layout(document, counters, version)
            missing = sorted(set(layout) - names)
            if missing:
                raise _Damage(f"it lacks {missing[0]!r}")
            unexpected = sorted(names - set(counter_layout) - set(layout))
            if unexpected:
                raise _Damage(f"it holds an unexpected member {unexpected[0]!r}")
            if members is not None:
                for name, expect in layout.items():
                    npz.check(name, expect)
                arrays.update(
                    {name: npz.read(name, layout[name]) for name in members if name in layout}
                )
                return arrays
            arrays.update({name: npz.read(name, expect) for name, expect in layout.items()})
        if version == 1:
            arrays = upgrade_schema_1(arrays, document)
        _check_values(arrays, document)
    return arrays


def check_has_checkpoint(run_dir: str | Path) -> None:
    """Refuse a run without any checkpoint (killed or out of disk before its first save),
    saying how to start it afresh (a new run may reuse its directory)."""
    run_dir = Path(run_dir)
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        try:
            os.lstat(run_dir / name)
            return  # there is something to load (or to refuse, saying why)
        except OSError:
            pass
    raise RunError(
        f"{run_dir} has no checkpoint (it was stopped before its first save): start it "
        f"afresh with tui-rnn train [CORPUS] --run-dir {run_dir}"
    )


def load_checkpoint_with_source(
    run_dir: str | Path, document: dict | None = None, members: Collection[str] | None = None
) -> tuple[dict[str, np.ndarray], Path, list[str]]:
    """(arrays, the file they came from, reasons the newer file was skipped).

    Tries checkpoint.npz, then checkpoint.prev.npz if the newest cannot be read for any reason
    (missing, damaged, unreadable, not a regular file). A newer schema is never skipped.
    `members` as for load_checkpoint_file (e.g. () for the counters alone).
    """
    run_dir = Path(run_dir)
    document = read_config(run_dir) if document is None else document
    problems: list[str] = []
    missing = 0
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        path = run_dir / name
        try:
            return load_checkpoint_file(path, document, members), path, problems
        except FutureSchemaError:
            raise
        except MissingRunFile as err:
            missing += 1
            problems.append(str(err))
        except RunError as err:
            problems.append(str(err))
    if missing == 2:
        check_has_checkpoint(run_dir)
    damage = [p for p in problems if not p.endswith(" is missing")]
    raise RunError(damage[0] + " (and no earlier checkpoint is usable)")


def load_checkpoint(
    run_dir: str | Path, warn=None, document: dict | None = None
) -> dict[str, np.ndarray]:
    """The newest loadable checkpoint of a run (falling back to the previous one if the newest
    cannot be read; `warn(message)` hears why)."""
    arrays, source, problems = load_checkpoint_with_source(run_dir, document)
    if problems and warn is not None:
        warn(
            f"{problems[0]}; continuing from {source.name} "
            f"(iteration {checkpoint_iteration(arrays)})"
        )
    return arrays


def checkpoint_iteration(arrays: dict[str, np.ndarray]) -> int:
    return int(arrays["iteration"])


def samples_size(run_dir: str | Path) -> int:
    return files.file_size(Path(run_dir) / SAMPLES_FILE) or 0


def save_checkpoint(
    run_dir: str | Path, trainer: Trainer, samples_bytes: int | None = None
) -> Path:
    """Write the trainer's whole state atomically, keeping the previous checkpoint beside it.

    Call it between updates, from the thread that drives the trainer. `samples_bytes` is how
    much of samples.txt this state accounts for (default: all of it, as it is now).
    Raises DivergenceError rather than save non-finite parameters, and RunWriteError when the
    disk refuses (the previous checkpoints are then untouched).
    """
    run_dir = Path(run_dir)
    if not (np.isfinite(trainer.model.flat).all() and trainer.optimizer.is_finite()):
        loss = float(trainer.history.loss[-1]) if len(trainer.history) else float("nan")
        raise DivergenceError(trainer.iteration, loss, trainer.base_eta)
    arrays: dict[str, Any] = trainer.state_arrays()  # Any: np.savez's stub types a keyword
    arrays["schema_version"] = np.array(SCHEMA_VERSION)
    size = samples_size(run_dir) if samples_bytes is None else samples_bytes
    arrays["samples_bytes"] = np.array(size, dtype=np.int64)
    path = run_dir / CHECKPOINT_FILE
    first = files.file_size(path) is None
    try:
        files.atomic_write(
            path,
            lambda f: np.savez(f, **arrays),
            keep_previous=run_dir / PREVIOUS_CHECKPOINT_FILE,
        )
    except RunWriteError as err:
        if first:
            raise RunWriteError(
                f"cannot write the first checkpoint in {run_dir}: {err.reason}: {err.remedy}, "
                "then start the run again"
            ) from None
        raise RunWriteError(
            f"cannot write a checkpoint in {run_dir}: {err.reason}; the previous checkpoint "
            f"is intact: {err.remedy}, then resume with --resume {run_dir}"
        ) from None
    return path


def _load_into(trainer: Trainer, arrays: dict[str, np.ndarray], run_dir) -> None:
    if not 0 <= int(arrays["position"]) < trainer.segment:
        raise RunError(f"the checkpoint in {run_dir} points outside the corpus: it is damaged")
    try:
        trainer.load_state_arrays(arrays)
    except (KeyError, ValueError, TypeError) as err:
        raise RunError(f"the checkpoint in {run_dir} does not fit its config ({err})") from None


def restore_trainer(
    run_dir: str | Path,
    corpus: Corpus,
    warn=None,
    document: dict | None = None,
    config: TrainConfig | None = None,
) -> Trainer:
    """A Trainer in exactly the state of the run's newest good checkpoint, ready to continue.

    Checks the corpus is the run's own, truncates samples.txt to what the checkpoint accounts
    for, and refills trainer.samples from it. `warn(message)` hears about a newest checkpoint
    that was skipped (and why). The trainer has the run's config, or `config` if given (the
    run's own with a new learning rate: options.resumed_config).
    """
    document = read_config(run_dir) if document is None else document
    check_same_corpus(document, corpus)
    if config is None:
        config = TrainConfig.from_dict(document["config"])
    trainer = Trainer(corpus.data, corpus.chars, config)
    arrays = load_checkpoint(run_dir, warn, document)
    _load_into(trainer, arrays, run_dir)
    if "samples_bytes" in arrays:
        problem = repair_samples(run_dir, int(arrays["samples_bytes"]))
        if problem:
            if warn is not None:
                warn(problem)
            # What the checkpoint accounts for now, so that the next resume cuts nothing more.
            save_checkpoint(run_dir, trainer)
    trainer.samples.extend(read_samples(run_dir, limit=trainer.samples.maxlen))
    return trainer


def restore_into(trainer: Trainer, run_dir: str | Path, warn=None) -> int:
    """Put the run's newest good checkpoint back into `trainer` (e.g. after a divergence).

    Returns the iteration restored. The trainer's config (eta included) is left as it is.
    """
    arrays = load_checkpoint(run_dir, warn)
    _load_into(trainer, arrays, run_dir)
    return trainer.iteration


def check_same_corpus(document: dict, corpus: Corpus) -> None:
    """Refuse a corpus that is not the run's: named as changed when it is the run's own file
    (edited in place), as another file otherwise."""
    recorded = document["corpus"]
    run_corpus = recorded.get("path") or recorded.get("name")
    same_file = corpus.path is not None and corpus.path == recorded.get("path")
    vocabulary = document["vocabulary"]
    if vocabulary != "".join(corpus.chars):
        if same_file:
            raise RunError(
                f"{corpus.path} has changed since the run began: its vocabulary is now "
                f"{corpus.vocab_size} characters, the run's is {len(vocabulary)}; restore the "
                "text the run was trained on, or start a new run on the edited one"
            )
        raise RunError(
            f"{corpus.name} has a different vocabulary ({corpus.vocab_size} characters) from "
            f"the run's corpus {run_corpus} ({len(vocabulary)} characters): "
            "give the run's own corpus"
        )
    saved = recorded.get("sha256")
    if saved and saved != corpus.sha256:
        if same_file:
            raise RunError(
                f"{corpus.path} has changed since the run began (its sha256 differs from the "
                "one in config.json): restore the text the run was trained on, or start a new "
                "run on the edited one"
            )
        raise RunError(
            f"{corpus.path or corpus.name} is not the text this run was trained on (its sha256 "
            f"{corpus.sha256[:12]}… differs from the run's {saved[:12]}…, {run_corpus}): give "
            "the run's own corpus"
        )


def load_model(
    run_dir: str | Path, best: bool = False, warn=None
) -> tuple[Model, tuple[str, ...], dict]:
    """The model (current or best) and vocabulary of a run, for generation and inspection."""
    return load_model_at(run_dir, best, warn)[:3]


def load_model_at(
    run_dir: str | Path, best: bool = False, warn=None
) -> tuple[Model, tuple[str, ...], dict, int]:
    """load_model, and the iteration the model is from (the best model's own for best)."""
    document = read_config(run_dir)
    arrays = load_checkpoint(run_dir, warn, document)
    iteration = int(arrays["best_iteration" if best else "iteration"])
    model = model_from_arrays(document, arrays, best)
    return model, tuple(document["vocabulary"]), document, iteration


def model_from_arrays(document: dict, arrays: dict[str, np.ndarray], best: bool = False) -> Model:
    """The current (or best) model held by a checkpoint's arrays."""
    spec = model_spec(TrainConfig.from_dict(document["config"]), len(document["vocabulary"]))
    flat = arrays["best_params" if best else "params"]
    return Model.from_flat(spec, np.array(flat, dtype=spec.dtype))


def run_corpus_path(document: dict, path: str | None = None, retry: str = "") -> str | None:
    """The corpus file to read for a run: `path` if given, else the one in config.json (None:
    the built-in corpus). RunError for an imported run that has no corpus of its own yet."""
    if path is None and not has_corpus(document):
        hint = f": give one ({retry})" if retry else ": give one"
        raise RunError(f"the run holds an imported model and no corpus of its own{hint}")
    return path or document["corpus"].get("path")


def fit_vocabulary(document: dict, corpus: Corpus) -> Corpus:
    """The corpus as indices into the run's vocabulary. An imported model's vocabulary may be
    larger than its corpus's characters (it came from elsewhere): the text is re-indexed,
    refused (RunError) if it holds a character the model lacks. Any other run's corpus is
    returned as it is (check_same_corpus compares their vocabularies)."""
    if not isinstance(document.get("imported"), dict):
        return corpus
    try:
        return in_vocabulary(corpus, document["vocabulary"])
    except UnknownCharactersError as err:
        raise RunError(
            f"{corpus.name} has {err}".replace("train on a corpus", "use a text")
        ) from None


def load_run_corpus(
    document: dict, path: str | None = None, encoding: str | None = None, retry: str = ""
) -> Corpus:
    """The corpus a saved run was trained on (the one in config.json unless `path` is given),
    refused (RunError) if it cannot be loaded or is another text (its vocabulary or sha256 not
    the run's: a report or a check on it would name the run's). `retry` is the command that
    gives the corpus explicitly, for the message."""
    corpus_path = run_corpus_path(document, path, retry)
    encoding = encoding or document.get("encoding", "utf-8")
    try:
        corpus = fit_vocabulary(document, load_corpus(corpus_path, encoding=encoding))
    except CorpusError as err:
        hint = f" (or give it: {retry})" if retry else ""
        raise RunError(f"cannot load the run's corpus: {err}{hint}") from None
    check_same_corpus(document, corpus)  # another text of the same vocabulary too (sha256)
    return corpus


@dataclass(frozen=True)
class RunHistory:
    """What a chart of a saved run needs, read from its newest good checkpoint without its
    parameters: the smooth loss (summed over seq_length characters, as trained), the training
    seconds, epochs and validation losses (nats per character) of every update."""

    run_dir: Path
    document: dict
    counters: dict  # as _named_counters gives them
    smooth_loss: np.ndarray  # float32, (iteration,)
    seconds: np.ndarray  # float32, (iteration,): training seconds when each update finished
    epoch_starts: np.ndarray
    val_iterations: np.ndarray
    val_loss: np.ndarray
    loss: np.ndarray | None = None  # float32, (iteration,): the per-update loss, if asked for

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.document["config"])

    @property
    def chars_per_update(self) -> int:
        config = self.config
        return config.batch_size * config.seq_length


def read_history(
    run_dir: str | Path, document: dict | None = None, warn=None, loss: bool = False
) -> RunHistory:
    """A run's history from its newest good checkpoint (read-only, no lock: safe while another
    process trains it), never its parameters; with `loss`, the per-update loss too."""
    run_dir = Path(run_dir)
    document = read_config(run_dir) if document is None else document
    members = HISTORY_MEMBERS + (("loss_history",) if loss else ())
    arrays, source, problems = load_checkpoint_with_source(run_dir, document, members)
    if problems and warn is not None:
        warn(f"{problems[0]}; read {source.name}")
    counters = _named_counters(arrays, int(arrays["schema_version"]))
    empty = {
        "seconds_history": np.zeros(counters["iteration"], dtype=np.float32),
        "val_iterations": np.zeros(0, dtype=np.int64),
        "val_loss_history": np.zeros(0, dtype=np.float64),
    }
    arrays = {**empty, **arrays}  # schema 1 recorded no timings and no validation
    return RunHistory(
        run_dir,
        document,
        counters,
        arrays["smooth_loss_history"],
        arrays["seconds_history"],
        arrays["epoch_starts"],
        arrays["val_iterations"],
        arrays["val_loss_history"],
        arrays.get("loss_history") if loss else None,
    )


def read_counters(run_dir: str | Path, document: dict, warn=None) -> dict:
    """The named counters of the run's newest good checkpoint (nothing else is read; every
    member's header is checked). `warn(message)` hears why a newer one was skipped."""
    arrays, source, problems = load_checkpoint_with_source(run_dir, document, ())
    if problems and warn is not None:
        warn(f"{problems[0]}; {source.name} is used")
    return _named_counters(arrays, int(arrays["schema_version"]))
