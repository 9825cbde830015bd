"""The app's screens: the main screen (the status line, the four panes, the training keys and
the workers) and those pushed over it (help, settings, the inspector, the runs, comparing runs,
a new run). A screen is given what it works on (the session, the runs' summaries) when it is
made, asks the engine through the session's typed requests, and hears from threads only
through messages.
"""
