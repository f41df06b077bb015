"""``scoreboard-report``: the scoreboard and its verdict counts."""

from __future__ import annotations

from typing import Any

from revis.reporting.scoreboard import scoreboard_outputs


def build_scoreboard(**claims_and_metrics: Any) -> tuple[str, dict[str, Any]]:
    """Inputs arrive as ``<paper>_claims`` / ``<paper>_metrics`` pairs; returns the markdown and the counts."""
    papers = {
        name[: -len("_claims")]: (value, claims_and_metrics[name[: -len("_claims")] + "_metrics"])
        for name, value in claims_and_metrics.items()
        if name.endswith("_claims")
    }
    return scoreboard_outputs(papers)
