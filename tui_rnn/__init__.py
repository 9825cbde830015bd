"""tui-rnn: train, check and play with character-level RNNs written in plain NumPy."""

__version__ = "0.2.0"
