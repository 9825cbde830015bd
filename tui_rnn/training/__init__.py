"""The training engine, knowing no screens and no run directories: the options (one table, and
TrainConfig), the corpus (a text as vocabulary indices), the optimizers, the generation options,
sampling and beam search, the loss history, training health, and the Trainer with the checks a
run passes before one is built. It imports only tui_rnn.cells, tui_rnn.safe and itself, so that
the store, the run driver and both front ends share one engine.
"""
