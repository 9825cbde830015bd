"""app/screens."""
