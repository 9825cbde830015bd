"""The widgets the screens are built from: the status bar, the loss chart, the samples, the
generator, the gradient-check pane, the inspector's passage view, and form fields that never
show a control character raw (with the modal views of a pane kept next to it: a sample, the
gradient check's tables). A widget shows what it is given and posts a message for what it
needs; no widget starts a thread or talks to the engine.
"""
