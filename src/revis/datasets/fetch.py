"""Explicit, opt-in download of a paper's real dataset (never called at run time).

    python -m revis.datasets.fetch cifar10 --to /data/cifar

downloads the official CIFAR-10 "python version" with torchvision's downloader (checksum
verified) and prints the folder to put into params (``dsv.data.cifar10_root``, see
``paper_scale/dsv.yaml``). The pipelines only ever read local folders.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from revis.datasets.cifar import read_cifar10


def fetch_cifar10(to: str | Path) -> Path:
    """Download + extract CIFAR-10 under ``to``; returns the ``cifar-10-batches-py`` folder (checked readable)."""
    from torchvision.datasets import CIFAR10  # imported here: only this explicit command downloads

    root = Path(to)
    root.mkdir(parents=True, exist_ok=True)
    CIFAR10(str(root), train=True, download=True)
    folder = root / CIFAR10.base_folder
    read_cifar10(folder, "test")  # fail now, naming the file, rather than at run time
    return folder


FETCHERS = {"cifar10": (fetch_cifar10, "dsv.data.cifar10_root")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=sorted(FETCHERS))
    parser.add_argument("--to", required=True, type=Path, help="folder to download into")
    args = parser.parse_args(argv)
    fetch, key = FETCHERS[args.dataset]
    folder = fetch(args.to)
    print(f"{args.dataset} is in {folder}\nset {key}: {folder}  (e.g. in paper_scale/dsv.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
