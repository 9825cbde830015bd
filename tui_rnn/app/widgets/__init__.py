"""app/widgets."""
