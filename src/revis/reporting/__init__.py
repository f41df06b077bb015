"""Metrics summaries, pictures, the scoreboard and the regression check."""
