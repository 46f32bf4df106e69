"""vidcap."""
