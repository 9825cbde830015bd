"""The real app in a real terminal (tmux): what only a terminal shows. A file name holding an
escape sequence must not change the terminal's title nor leave the alternate screen; the
gradient-check pane of a 2-layer LSTM shows every column and its status lines at 120x40.

Each test starts `python -m tui_rnn` in a tmux server of its own (a socket of its own, killed
at the end), sends keys with send-keys and reads the screen with capture-pane.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_text

import tui_rnn

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

ROOT = Path(tui_rnn.__file__).resolve().parent.parent  # the tui_rnn under test
WAIT = 60.0  # seconds before a wait gives up (a loaded machine starts Python slowly)


class Tmux:
    """One tmux server (its own socket) running one command in one pane."""

    def __init__(self, name: str) -> None:
        self.socket = f"tui-rnn-test-{os.getpid()}-{name}"

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        return result.stdout

    def start(self, cwd: Path, size: tuple[int, int], argv: list[str]) -> None:
        env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "", "LINES": ""}
        command = " ".join(
            ["env", *(f"{k}={v}" for k, v in env.items()), *(_quote(a) for a in argv)]
        )
        width, height = size
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", str(width), "-y", str(height))
        self.tmux("set-option", "-g", "remain-on-exit", "on")
        self.tmux("respawn-pane", "-k", "-c", str(cwd), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def value(self, name: str) -> str:
        return self.tmux("display", "-p", f"#{{{name}}}").strip()

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def wait_for(self, predicate, what: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        self.keys("C-q")
        deadline = time.monotonic() + WAIT
        while self.value("pane_dead") != "1" and time.monotonic() < deadline:
            time.sleep(0.2)
        socket = self.value("socket_path")
        self.tmux("kill-server")
        if socket:  # tmux leaves it behind
            Path(socket).unlink(missing_ok=True)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


@pytest.fixture
def tmux(request):
    server = Tmux(request.node.name.replace("[", "-").replace("]", ""))
    yield server
    server.close()


def app_argv(*args: str, gradcheck_budget: float | None = None) -> list[str]:
    """`python -m tui_rnn ARGS`; with a gradient-check time budget this small, the check at
    start compares a sample of the entries (as a large model's does), in little time."""
    if gradcheck_budget is None:
        return [sys.executable, "-m", "tui_rnn", *args]
    code = (
        "import sys; import tui_rnn.gradcheck.batch as batch; "
        f"batch.TIME_BUDGET = {gradcheck_budget!r}; "
        "from tui_rnn.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *args]


def test_file_names_with_escape_sequences_leave_the_terminal_alone(tmp_path, tmux):
    (tmp_path / "corpus.txt").write_text(make_text(4000), encoding="utf-8")
    (tmp_path / "t\x1b]2;PWNED\x07x.txt").write_text("hello\n", encoding="utf-8")
    (tmp_path / "evil\x1b[31mname.txt").write_text("hello\n", encoding="utf-8")
    tmux.start(tmp_path, (100, 30), app_argv("--hidden", "8", "--seq-length", "10", "corpus.txt"))
    tmux.wait_for(lambda s: "Gradient check" in s and "Help" in s, "the main screen")
    title, alternate = tmux.value("pane_title"), tmux.value("alternate_on")
    assert alternate == "1"
    tmux.keys("n")
    tmux.wait_for(lambda s: "New run" in s and "corpus.txt" in s, "the form's tree")
    time.sleep(0.5)  # the whole tree drawn: anything the terminal would obey has arrived
    assert tmux.value("pane_title") == title and "PWNED" not in title
    assert tmux.value("alternate_on") == "1"
    screen = tmux.screen()  # the names shown, every character visible
    assert "t␛]2;PWNED␇x.txt" in screen and "evil␛[31mname.txt" in screen
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "New run" not in s, "the main screen again")


def test_the_gradient_check_of_a_2_layer_lstm_fits_at_120x40(tmp_path, tmux):
    (tmp_path / "corpus.txt").write_text(make_text(4000), encoding="utf-8")
    # The report's hidden size: six-digit entry counts, the longest status lines.
    argv = app_argv(
        "--cell", "lstm", "--layers", "2", "--hidden", "100", "corpus.txt", gradcheck_budget=0.05
    )
    tmux.start(tmp_path, (120, 40), argv)

    def checked(screen: str) -> bool:
        pending = re.search(r" {4}·", screen)  # a cell still to come
        return screen.count("sampled") == 2 and "running" not in screen and not pending

    screen = tmux.wait_for(checked, "the gradient check at init")
    lines = screen.splitlines()
    assert any(re.search(r"T=5\s+T=10\s+T=15\s+T=25", line) for line in lines)
    parameters = ["W_x.0", "W_h.0", "b.0", "W_x.1", "W_h.1", "b.1", "V", "c"]
    for method in ("cd", "cs"):  # every row, every column: four numbers
        for name in parameters:
            (row,) = [line for line in lines if re.search(rf"│{method} {re.escape(name)} ", line)]
            cells = row.split("│")[1].split()[2:]
            assert len(cells) == 4 and all(re.fullmatch(r"\d\.\de-\d+", c) for c in cells), row
        (status,) = [line for line in lines if line.startswith(f"│{method} ") and "sampled" in line]
        shown = status.split("│")[1]
        assert re.search(r"(passed|FAILED).*sampled [\d,]+ of [\d,]+.*\d s", shown), status
        assert "…" not in shown
