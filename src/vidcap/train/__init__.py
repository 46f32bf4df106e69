"""Training loops and the checkpoints they write."""
