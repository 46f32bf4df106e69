"""Drawing on frames and plots."""
