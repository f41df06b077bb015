"""Pictures of the caption world: scenes beside their captions."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt

from revis.world.captions import CaptionSplit


def captions_figure(split: CaptionSplit, per_form: int = 4) -> plt.Figure:
    """``per_form`` training scenes of each caption form (description, abstract word + description, word alone)."""
    forms = ("description", "abstract+description", "abstract")
    picks = [i for form in forms for i in [j for j, r in enumerate(split.records) if r.form == form][:per_form]]
    fig, axes = plt.subplots(len(forms), per_form, figsize=(2.3 * per_form, 2.5 * len(forms)), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for slot, i in enumerate(picks):
        ax = axes.ravel()[slot]
        ax.imshow(split.images[i], interpolation="nearest")
        ax.set_title("\n".join(textwrap.wrap(split.records[i].caption, 30)), fontsize=6)
    fig.suptitle(
        "caption world: training scenes and captions (rows: description / word + description / word alone)", fontsize=8
    )
    fig.tight_layout()
    return fig
