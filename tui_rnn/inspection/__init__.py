"""Inside a trained model: a passage read character by character, with its probabilities and
every unit's activation (`passage`), the units that track simple features of the text
(`neurons`), the colour scales that show both (`colours`), and `tui-rnn inspect`'s ANSI, HTML and
JSON output (`output`). Imports cells, training, store and safe; no Textual (the app's inspector
draws from it)."""
