"""Train one classifier from the command line; runs under ``torchrun`` for DDP.

    torchrun --standalone --nproc_per_node 2 -m revis.training.cli --data data/01_raw/digits.npz \
        --epochs 5 --out data/06_models/digits_ddp.pt

gloo on CPU, NCCL on GPU. Rank 0 alone shows progress, writes the checkpoint and prints
the JSON summary; every rank prints a checksum of its parameters (DDP keeps them equal).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

from revis.datasets.cifar import read_cifar10
from revis.datasets.imageset import ImageSet, load_imagesets_npz
from revis.models import build_model
from revis.training.trainer import TrainConfig, accuracy, distributed_context, train_classifier


def _load(path: Path) -> dict[str, ImageSet]:
    if path.is_dir():
        return {split: read_cifar10(path, split) for split in ("train", "test")}
    return load_imagesets_npz(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="imageset .npz or CIFAR-layout folder")
    parser.add_argument("--model", default='{"name": "convnet", "width": 32, "depth": 3}', help="ModelConfig as JSON")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="checkpoint path (written by rank 0)")
    args = parser.parse_args(argv)

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if distributed:
        if device == "cuda":
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
            device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    try:
        rank, world = distributed_context()
        splits = _load(args.data)
        train, test = splits["train"], splits["test"]
        torch.manual_seed(args.seed)  # identical initial weights on every rank
        model = build_model(json.loads(args.model), train.channels, train.num_classes, train.image_size)
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
        x, y = train.tensors()
        history = train_classifier(
            model, x, y, config, args.seed, device=device, checkpoint=args.out, desc=f"rank{rank}"
        )
        checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
        print(json.dumps({"rank": rank, "param_checksum": checksum}), flush=True)
        summary = {"world_size": world, "final_loss": history.loss[-1]}
        if rank == 0:
            summary["test_accuracy"] = accuracy(model.cpu(), *test.tensors())
            print(json.dumps(summary), flush=True)
        return summary
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
