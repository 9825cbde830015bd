"""Inside a trained model: a passage read character by character, with its probabilities and every
unit's activation (`passage`), the units that track simple features of the text (`neurons`), the
colour scales that show both (`colours`), `tui-rnn inspect`'s ANSI, HTML and JSON output
(`output`), and a model's loss on a whole text, runs side by side, with the passages that
surprise it most (`scoring`, `tui-rnn eval`). Imports cells, training, store and safe; no
Textual (the app's inspector draws from it)."""
