"""Runs on disk: a run's directory, its lock and how runs are found (rundir), config.json
(config), the checkpoints (checkpoint), samples.txt (samples), every run under a directory at a
glance (workspace), and exports (export). Every file is opened through tui_rnn.safe: never
through a symbolic link, never a named pipe; written atomically, or appended in one fsynced
write. It imports only tui_rnn.training, tui_rnn.cells, tui_rnn.safe and itself; the run driver
decides when to save.
"""
