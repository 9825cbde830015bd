"""The Textual app, and the only package of tui-rnn that imports textual: app.py (the App: the
session's life, the app-wide keys, switching runs), session.py (the engine thread that drives
a run and serves the UI's requests), watch.py (its read-only stand-in for a run another
process trains), requests.py and messages.py (what the UI and the threads
send each other), keys.py (every key, once), screens/ (the main screen and the screens pushed
over it), widgets/ (the panes and fields they are built from) and app.tcss (every style). It
may import every layer below it (safe, cells, training, store, gradcheck, inspection, charts,
driver, report), never cli, which imports it.
"""

from tui_rnn.app.app import TuiRnnApp
from tui_rnn.app.session import TrainingSession
from tui_rnn.app.watch import WatchSession

__all__ = ["TrainingSession", "TuiRnnApp", "WatchSession"]
