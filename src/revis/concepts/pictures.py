"""Pictures of the Bi-ICE study (matplotlib figures; the ``biice`` pipeline saves and logs them).

``per[variant][measure]`` holds one entry per seed (``revis.concepts.scoring.score_run`` outputs).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch.nn.functional as F

from revis.datasets.imageset import ImageSet

LABELS = {
    "biice": "Bi-ICE (no concept supervision, slots Hungarian-matched)",
    "biice_expl": "Bi-ICE + concept supervision",
}
COLOURS = {"biice": "tab:orange", "biice_expl": "tab:blue"}
MAX_CONCEPT_COLUMNS = 8


def _first_run(runs: dict[str, Any], variant: str) -> tuple[str, dict[str, Any]] | None:
    found = sorted((r["seed"], name) for name, r in runs.items() if r["variant"] == variant)
    return (found[0][1], runs[found[0][1]]) if found else None


def _shown_concepts(first: dict[str, Any], pictures: list[int], n_concepts: int) -> dict[int, list[int]]:
    """Which concepts to show per image: all of them when few, else the picture's heaviest ones (first variant)."""
    columns = {}
    for image in pictures:
        position = first["attention_index"].tolist().index(image)
        mass = first["attention"][position].mean(0)
        columns[image] = (
            list(range(n_concepts))
            if n_concepts <= MAX_CONCEPT_COLUMNS
            else mass.argsort(descending=True)[: MAX_CONCEPT_COLUMNS - 2].tolist()
        )
    return columns


def _draw_map_row(
    row: Any,
    test: ImageSet,
    image: int,
    variant: str,
    record: dict[str, Any],
    slot_of: np.ndarray,
    columns: list[int],
    titles: list[str] | None,
) -> None:
    """One image's row of one variant: the input, then each shown concept's map over it (``titles``: the
    concept names above the maps, on the first row only)."""
    pixels = test.images[image]
    position = record["attention_index"].tolist().index(image)
    grid = record["grid"]
    maps = record["attention"][position].T.reshape(-1, grid, grid)  # (K, g, g)
    up = F.interpolate(maps[None].float(), size=pixels.shape[:2], mode="bilinear", align_corners=False)[0]
    top = float(up.max())  # one colour scale per row: the maps of one image compete for each patch
    row[0].imshow(pixels)
    row[0].set_ylabel(
        ("sup." if variant == "biice_expl" else "unsup.") + f"\n{test.class_names[test.labels[image]]}",
        fontsize=6,
    )
    for col, k in enumerate(columns, start=1):
        ax = row[col]
        ax.imshow(pixels.mean(-1), cmap="gray", vmin=0, vmax=255)
        ax.imshow(up[int(slot_of[k])].numpy(), cmap="magma", alpha=0.65, vmin=0, vmax=top)
        if test.concept_masks is not None and test.concept_masks[image, k].any():
            ax.contour(test.concept_masks[image, k], levels=[0.5], colors="cyan", linewidths=0.6)
        if titles is not None:
            ax.set_title(titles[k][:14], fontsize=6)
    for ax in row[len(columns) + 1 :]:
        ax.axis("off")


def concept_maps(
    test: ImageSet,
    runs: dict[str, Any],
    picture_index: Any,
    assignments: dict[str, np.ndarray],
    names: list[str],
) -> plt.Figure:
    """Per picture image and Bi-ICE variant (first seed): the input, then each concept's map A
    over it, with the ground-truth mask outlined where the world provides one."""
    rows = []
    for variant in ("biice_expl", "biice"):
        found = _first_run(runs, variant)
        if found is not None:
            rows.append((variant, *found))
    pictures = picture_index.tolist()
    if not rows:
        fig, ax = plt.subplots()
        ax.text(0.5, 0.5, "no Bi-ICE run", ha="center")
        return fig
    columns = _shown_concepts(rows[0][2], pictures, len(names))
    width = 1 + max(len(c) for c in columns.values())
    fig, axes = plt.subplots(
        len(pictures) * len(rows), width, figsize=(1.15 * width, 1.2 * len(pictures) * len(rows)), squeeze=False
    )
    for i, image in enumerate(pictures):
        for j, (variant, run, record) in enumerate(rows):
            titles = names if i == 0 and j == 0 else None
            _draw_map_row(
                axes[i * len(rows) + j], test, image, variant, record, assignments[run], columns[image], titles
            )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        "Bi-ICE concept maps A (broadcast attention; colour from 0 to the row's maximum), "
        "ground-truth masks outlined; sup. = concept-supervised, unsup. = slots Hungarian-matched",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def contributions(
    per: dict[str, Any],
    variants: list[str],
    names: list[str],
    class_names: list[str],
    rules: list[list[int]],
    max_classes: int = 10,
) -> plt.Figure:
    """Mean contribution of each concept to a class's logit over that class's test images (seed mean);
    the class's rule concepts are starred."""
    classes = list(range(min(len(class_names), max_classes)))
    fig, axes = plt.subplots(1, len(classes), figsize=(2.3 * len(classes), 2.8), squeeze=False)
    width = 0.8 / max(1, len(variants))
    for ax, c in zip(axes[0], classes):
        means = {v: np.nanmean(np.stack(per[v]["class_scores"]), axis=0)[c] for v in variants}
        shown = list(range(len(names)))
        if len(names) > MAX_CONCEPT_COLUMNS:  # many concepts: the rule's and the strongest ones
            strongest = np.argsort(-np.abs(means[variants[-1]]))[:MAX_CONCEPT_COLUMNS].tolist()
            shown = sorted(set(strongest) | set(rules[c][:4]))
        for i, v in enumerate(variants):
            ax.bar(
                np.arange(len(shown)) + i * width,
                means[v][shown],
                width,
                color=COLOURS[v],
                label=LABELS[v] if c == 0 else None,
            )
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(np.arange(len(shown)) + width * (len(variants) - 1) / 2)
        ax.set_xticklabels([("*" if k in rules[c] else "") + names[k][:12] for k in shown], rotation=75, fontsize=6)
        ax.set_title(class_names[c][:22], fontsize=8)
    axes[0][0].set_ylabel("contribution to class logit", fontsize=7)
    fig.legend(loc="upper center", ncol=2, fontsize=7, bbox_to_anchor=(0.5, 1.08))
    fig.suptitle("concept contributions per class (* = concept in the class rule)", fontsize=9, y=1.14)
    fig.tight_layout()
    return fig


def ragged(rows: list[Any]) -> np.ndarray:
    """Per-seed curves of different lengths (early stopping) as one (seeds, longest) array, NaN after each end."""
    out = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def convergence(per: dict[str, Any], variants: list[str]) -> plt.Figure:
    """Binding: ||S_t - S_{t-1}|| per iteration (trained and untrained head); training: slot drift per epoch."""
    fig, (ax_iter, ax_epoch) = plt.subplots(1, 2, figsize=(9, 3.2))
    trained = None
    for v in variants:
        trace = np.stack(per[v]["trace"])  # (seeds, T_trace)
        steps = np.arange(1, trace.shape[1] + 1)
        spread = trace.std(0, ddof=1) if len(trace) > 1 else None
        ax_iter.errorbar(steps, trace.mean(0), yerr=spread, color=COLOURS[v], label=LABELS[v], capsize=2)
        if v == variants[0]:  # both variants start from the same initialisation per seed
            untrained = np.stack(per[v]["trace_untrained"]).mean(0)
            ax_iter.plot(steps, untrained, color="gray", ls=":", label="untrained head (same seeds)")
        trained = np.stack(per[v]["trained_steps"]).shape[1]
        drift, bound = ragged(per[v]["slot_drift"]), ragged(per[v]["bound_drift"])  # seeds stop at their own epoch
        epochs = np.arange(1, drift.shape[1] + 1)
        ax_epoch.plot(epochs, np.nanmean(drift, 0), color=COLOURS[v], label=f"{v}: learned slots S0")
        ax_epoch.plot(epochs, np.nanmean(bound, 0), color=COLOURS[v], ls="--", label=f"{v}: bound slots (probe batch)")
    if trained is not None:
        ax_iter.axvline(trained, color="gray", ls=":", lw=1)
        ax_iter.text(trained, ax_iter.get_ylim()[1] * 0.95, " trained T", fontsize=7, color="gray", va="top")
    ax_iter.set(xlabel="binding iteration t", ylabel="||S_t - S_{t-1}||_F (mean over test images)")
    ax_iter.legend(fontsize=6)
    ax_epoch.set(xlabel="epoch", ylabel="relative slot change per epoch", yscale="log")
    ax_epoch.legend(fontsize=6)
    fig.suptitle(
        "Bi-ICE convergence: binding iterations (left), training epochs (right; each seed to its stopping epoch); "
        "mean over seeds",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def deletion(per: dict[str, Any], variants: list[str]) -> plt.Figure:
    """Target-class logit while patches are deleted, by order."""
    fig, axes = plt.subplots(1, max(1, len(variants)), figsize=(4.5 * max(1, len(variants)), 3.2), squeeze=False)
    styles = {
        "concept_attention": ("tab:red", "-"),
        "per_patch_logit": ("tab:green", "-."),
        "ground_truth": ("tab:blue", ":"),
        "random": ("k", "--"),
    }
    for ax, v in zip(axes[0], variants):
        for order, (colour, style) in styles.items():
            if f"curve_{order}" not in per[v]:
                continue
            curve = np.stack(per[v][f"curve_{order}"]).mean(0)
            auc = np.mean(per[v][f"deletion_{order}"])
            ax.plot(np.linspace(0, 1, len(curve)), curve, color=colour, ls=style, label=f"{order} (drop AUC {auc:.2f})")
        ax.set(xlabel="fraction of patches deleted", ylabel="logit of the predicted class", title=LABELS[v])
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6)
    fig.suptitle("faithfulness: deleting patches in concept-attention order vs random", fontsize=9)
    fig.tight_layout()
    return fig


def rate_selection(histories: dict[str, Any]) -> plt.Figure:
    """Validation accuracy per epoch of every candidate rate (``<variant>/seed<s>/lr<lr>`` histories): one panel
    per head and seed, the chosen rate drawn thick, the probe's end dashed."""
    runs: dict[str, dict[str, list[tuple[float, dict[str, Any]]]]] = {}
    for name, history in histories.items():
        variant, seed, _ = name.split("/")
        runs.setdefault(variant, {}).setdefault(seed, []).append((history["lr"], history))
    variants = sorted(runs)
    seeds = sorted({s for v in runs.values() for s in v}, key=lambda s: int(s.removeprefix("seed")))
    fig, axes = plt.subplots(
        len(variants), len(seeds), figsize=(3.2 * len(seeds), 2.4 * len(variants)), squeeze=False, sharey="row"
    )
    for row, variant in zip(axes, variants):
        for ax, seed in zip(row, seeds):
            for index, (lr, history) in enumerate(sorted(runs[variant].get(seed, []), key=lambda item: item[0])):
                curve = history["validation_accuracy_per_epoch"]
                label = f"lr {lr:g}" + (" (chosen)" if history["kept"] else "")
                ax.plot(
                    np.arange(1, len(curve) + 1),
                    curve,
                    color=f"C{index}",
                    lw=2.2 if history["kept"] else 1,
                    label=label,
                )
                if history.get("probe_epochs"):
                    ax.axvline(history["probe_epochs"], color="gray", ls="--", lw=0.8)
            ax.set_title(f"{variant}, {seed}", fontsize=8)
            ax.set_xlabel("epoch", fontsize=7)
            ax.legend(fontsize=6)
        row[0].set_ylabel("validation accuracy", fontsize=7)
    fig.suptitle(
        "learning-rate choice per seed on its validation split (dashed: end of the probes; the chosen run goes on)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
