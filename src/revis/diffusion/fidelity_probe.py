"""Learning curves of the gate fidelities (positions, shapes, counts against shuffled captions) over training steps.

``python -m revis.diffusion.fidelity_probe --steps 480 --every 80 --out curve.json`` builds the caption world
and judge of ``params.yaml`` (section ``t2i``), trains one t2i model (training seed ``--seed``) with the
configured recipe (``--lr`` / ``--warmup`` / ``--batch-size`` override it) and measures, at every ``--every``
steps and at the end, the judged fidelity of the EMA weights on held-out captions, as ``t2i-evaluate`` does.
A probe to choose the step budget: it writes JSON (and prints one line per checkpoint); not a DVC stage.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from revis.atomic import write_text_atomic
from revis.curves import curve_key
from revis.diffusion.evaluation import GATE_ASPECTS, judged_fidelity, p_above_shuffled, rate
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, encode_captions, to_model_range, train_denoiser
from revis.diffusion.unet import build_unet, sampling_scheduler, training_scheduler
from revis.pipelines.t2i.nodes_ingest import fit_judge, make_caption_world
from revis.pipelines.t2i.params import Params
from revis.world.judge import load_judge


def checkpoint_row(step: int, measured: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One point of the curves: per gate aspect the model's and the shuffled captions' rates and the p-value."""
    row: dict[str, Any] = {"step": step, "seconds": round(seconds, 1)}
    for aspect in (*GATE_ASPECTS, "regions", "colours", "objects"):
        model, base = measured["model"][aspect], measured["shuffled_captions"][aspect]
        row[aspect] = {
            "model": rate(model),
            "shuffled": rate(base),
            "p_above_shuffled": p_above_shuffled(model, base),
            "trials": model[1],
        }
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=480)
    parser.add_argument("--every", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--n-captions", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="fidelity_curve.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    params = Params.model_validate(yaml.safe_load(Path(args.params).read_text())["t2i"])
    train = params.train
    start = time.perf_counter()
    captions = make_caption_world(params.world)
    judge = load_judge(fit_judge(captions, params.judge, params.compute)[0])
    torch.set_num_threads(args.threads)  # fitting the judge set the stage's thread count
    encoder = TextEncoder(train.text_encoder, train.max_length)
    split = captions["train"]
    states, masks, null_states, null_mask = encode_captions(encoder, split.captions)
    torch.manual_seed(args.seed)
    unet = build_unet(split.images.shape[1], encoder.hidden_size, **train.unet.model_dump())
    scheduler = training_scheduler(train.num_train_timesteps, train.beta_schedule)
    evaluate = params.evaluate
    records = captions["test"].records[: args.n_captions or evaluate.n_captions]
    rows: list[dict[str, Any]] = []
    print(f"world + judge + encoding: {time.perf_counter() - start:.0f} s", flush=True)

    def measure(step: int, ema: Any) -> None:
        pipe = MiniT2IPipeline(ema, sampling_scheduler(scheduler, train.sampler), encoder.model, encoder.tokenizer)
        measured = judged_fidelity(
            pipe,
            judge,
            records,
            seed=evaluate.seed,
            steps=evaluate.steps,
            guidance_scale=evaluate.guidance_scale,
            batch_size=evaluate.batch_size,
        )
        rows.append(checkpoint_row(step, measured, time.perf_counter() - start))
        print(json.dumps(rows[-1]), flush=True)
        write_text_atomic(Path(args.out), json.dumps({"args": vars(args), "curve": rows}, indent=1))

    config = DenoiserTraining(
        steps=args.steps,
        batch_size=args.batch_size or train.batch_size,
        lr=args.lr or train.lr,
        warmup=train.warmup if args.warmup is None else args.warmup,
        cond_dropout=train.cond_dropout,
        min_snr_gamma=train.min_snr_gamma,
        ema_decay=train.ema_decay,
        seed=args.seed,
    )
    ema, _ = train_denoiser(
        unet,
        scheduler,
        to_model_range(split.images),
        states,
        masks,
        null_states[0],
        null_mask[0],
        config,
        curve=curve_key("t2i_probe", args.seed),
        every=args.every,
        on_checkpoint=measure,
    )
    measure(args.steps, ema)


if __name__ == "__main__":
    main()
