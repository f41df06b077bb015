"""The AP50-vs-steps curve that chooses csod's training length: ``python -m revis.detection.plateau``.

A detector trained from scratch on a few images first learns nothing, then its AP rises steeply
("take-off") and levels off. Comparing subsets mid take-off compares how early each run takes
off, not what the subsets teach. This trains random subsets of each budget for several total
step counts (separate runs: ultralytics decays the learning rate over the whole run, so the AP
after k steps of a longer run is not the AP of a k-step run) and writes the table and a figure,
so the length csod trains for can be read off where the curve levels off.

Run it after ``dvc repro world-ingest``; it reads params.yaml's ``csod.yolo`` section::

    python -m revis.detection.plateau --steps 100 200 400 800 --budgets 10 20 --seeds 0 1 \\
        --out reports/csod/plateau
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from revis.datasets.voc import read_voc_folder
from revis.detection.subsets import epochs_for_steps, run_jobs, steps_per_epoch, train_one
from revis.detection.ultralytics_env import ultralytics_home
from revis.detection.yolo import YoloConfig


def steps_curve(
    voc_root: Path, config: YoloConfig, budgets: list[int], steps: list[int], seeds: list[int], workers: int
) -> list[dict]:
    data = read_voc_folder(voc_root)
    train, test = data.split("train"), data.split("test")
    jobs, keys = [], []
    for budget in budgets:
        for seed in seeds:
            picks = np.random.default_rng(seed).choice(len(train), size=budget, replace=False)
            subset = [train[i] for i in sorted(picks)]
            for total in steps:
                epochs = epochs_for_steps(budget, config.batch, total)
                jobs.append((subset, test, data.class_names, replace(config, epochs=epochs), seed))
                keys.append({"budget": budget, "seed": seed, "steps": epochs * steps_per_epoch(budget, config.batch)})
    results = run_jobs(train_one, jobs, ultralytics_home() / "work" / "plateau", workers, desc="AP50 vs steps")
    return [{**key, "ap50": r["ap50"], "ap50_95": r["ap50_95"]} for key, r in zip(keys, results)]


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for budget in sorted({r["budget"] for r in rows}):
        mine = [r for r in rows if r["budget"] == budget]
        steps = sorted({r["steps"] for r in mine})
        means = [np.mean([r["ap50"] for r in mine if r["steps"] == s]) for s in steps]
        ax.plot(steps, means, marker="o", label=f"{budget} random images (mean over seeds)")
        for r in mine:
            ax.plot(r["steps"], r["ap50"], ".", c="grey", alpha=0.5)
    ax.set(xlabel="optimiser steps (whole run)", ylabel="test AP50", xscale="log")
    ax.set_xticks(sorted({r["steps"] for r in rows}), [str(s) for s in sorted({r["steps"] for r in rows})])
    ax.legend(fontsize=7)
    ax.set_title("YOLOv8n from scratch: AP50 against training length", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 200, 400, 800])
    parser.add_argument("--budgets", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--voc", type=Path, default=Path("data/01_raw/detection/VOCmini"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("reports/csod/plateau"))
    args = parser.parse_args(argv)
    section = yaml.safe_load(args.params.read_text())["csod"]
    yolo, compute = section["yolo"], section.get("compute", {})
    config = YoloConfig(**yolo, device=compute.get("device", "cpu"))
    rows = steps_curve(args.voc, config, args.budgets, args.steps, args.seeds, int(compute.get("workers", 1)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "steps_curve.json").write_text(json.dumps({"yolo": yolo, "rows": rows}, indent=1))
    figure(rows, args.out / "steps_curve.png")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
