"""Input and output that a hostile file or text cannot turn against the user: `files` (run files
written atomically, never through a symbolic link, never a FIFO, sizes checked before anything is
allocated), `npz` (a strict .npz reader that never unpickles) and `text` (corpus and model text
made harmless for a terminal, HTML, SVG or Markdown). The lowest layer but blas: it imports the
standard library only, and NumPy for the arrays `npz` returns."""
