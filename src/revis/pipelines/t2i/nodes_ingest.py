"""``t2i-ingest``: the caption world (WebDataset shards) and its judge, trained on the world's ground truth.

The judge lives here, not in ``train``: it depends on the world alone, so changing the UNet or
its training never retrains it, and every later stage (t2i-evaluate, whitebear, orthoemb) reads
one judge whose held-out accuracy is known.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt

from revis.config.runtime import ComputeParams
from revis.pipelines.t2i.params import JudgeParams, WorldParams
from revis.runtime import apply_runtime
from revis.world.caption_pictures import captions_figure
from revis.world.captions import CaptionSplit, generate_captions, vocabulary
from revis.world.judge import judge_state, train_judge


def make_caption_world(world: WorldParams) -> dict[str, Any]:
    """Train and test splits of captioned scenes, and the world's vocabulary."""
    return {
        "train": _split(world, world.n_train, seed=world.seed * 2 + 1, prefix="train"),
        "test": _split(world, world.n_test, seed=world.seed * 2 + 2, prefix="test"),
        "vocabulary": vocabulary(),
    }


def _split(world: WorldParams, n: int, seed: int, prefix: str) -> CaptionSplit:
    return generate_captions(
        n,
        seed=seed,
        prefix=prefix,
        size=world.image_size,
        abstract_share=world.abstract_share,
        abstract_prob=world.abstract_prob,
        negation_fraction=world.negation_fraction,
        radius=(world.radius[0], world.radius[1]),
        striped_prob=world.striped_prob,
        noise=world.noise,
        grid=world.grid,
    )


def fit_judge(
    captions: dict[str, Any], judge: JudgeParams, compute: ComputeParams
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The judge's checkpoint and its loss curves, trained on the train split's label maps."""
    apply_runtime("cpu", compute.threads)
    train = captions["train"]
    net, history = train_judge(
        train.images,
        train.label_maps,
        width=judge.width,
        epochs=judge.epochs,
        batch_size=judge.batch_size,
        lr=judge.lr,
        min_area=judge.min_area,
        seed=judge.seed,
    )
    net.min_confidence = judge.min_confidence
    return judge_state(net), history


def plot_world(captions: dict[str, Any]) -> plt.Figure:
    """Sample training scenes with their captions, four per caption form."""
    return captions_figure(captions["train"])
