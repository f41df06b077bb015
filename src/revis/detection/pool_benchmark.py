"""Peak memory and speed of an unlabeled pool held in RAM versus streamed from its files.

``python -m revis.detection.pool_benchmark [--sizes 500 2000] [--imgsz 320]`` writes N synthetic
JPEG frames in a temporary folder in the LADA release's layout (``<camera-folder>/<file>.jpg``
under an image root, a COCO file with absolute file names from the annotators' machine), then
reads the pool and passes over it once in shuffled batches, as the teacher-student loop draws
it, in a fresh process per (path, N) so that each peak is its own:

- ``eager-stack``: the former ``letterbox_coco`` (a list of canvases, stacked, then copied
  channel-first: three copies of the pool at the peak);
- ``eager``: ``letterbox_coco`` now (one preallocated (N, 3, S, S) tensor);
- ``streamed``: ``stream_coco`` (paths only; each batch decoded when drawn).

Printed per row: peak RSS (``ru_maxrss``), its growth over the process after imports, the bytes
of image data the set holds after construction, CPU seconds and images per CPU second of
read + pass. The streamed peak is flat in N; the eager ones grow by N x 3 x S x S bytes (x 3).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from revis.datasets.coco import CocoDetections, read_coco_detections
from revis.datasets.images import load_image
from revis.datasets.lada import LabeledImage, dump_release_json, release_document
from revis.detection.letterboxed import Images, letterbox_array, letterbox_coco
from revis.detection.streamed import stream_coco

MODES = ("eager-stack", "eager", "streamed")
FOREIGN_ROOT = "/home/annotator/Documents/HPWREN-FIgLib-Data"  # file names as the release writes them


def write_pool(root: Path, n: int, width: int, height: int, cameras: int = 20, seed: int = 0) -> Path:
    """``n`` synthetic JPEG frames under ``root/images/<camera>/`` and ``root/pool.json`` listing them."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(cameras, 3), dtype=np.uint8)
    ramp = np.linspace(0.6, 1.0, height, dtype=np.float32)[:, None, None]
    entries = []
    for k in range(n):
        camera = f"20160604_FIRE_smer-tcs{k % cameras:02d}-mobo-c"
        name = f"1465065{k:06d}_+{k % 60:05d}.jpg"
        folder = root / "images" / camera
        folder.mkdir(parents=True, exist_ok=True)
        frame = (base[k % cameras] * ramp).astype(np.uint8).repeat(width, axis=1)
        noise = rng.integers(0, 24, size=(-(-height // 8), -(-width // 8), 3), dtype=np.uint8)
        noise = noise.repeat(8, 0).repeat(8, 1)[:height, :width]
        Image.fromarray(frame + noise).save(folder / name, quality=90)
        entries.append(LabeledImage(f"{FOREIGN_ROOT}/{camera}/{name}", width, height, []))
    labels = root / "pool.json"
    labels.write_text(dump_release_json(release_document(entries, "merged")))
    return labels


def letterbox_coco_stacked(data: CocoDetections, imgsz: int) -> torch.Tensor:
    """The former eager path's images (list of canvases -> stack -> channel-first copy), for comparison."""
    canvases = [letterbox_array(load_image(image.path), imgsz)[0] for image in data.images if image.path is not None]
    stacked = np.stack(canvases) if canvases else np.zeros((0, imgsz, imgsz, 3), np.uint8)
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(mode: str, labels: Path, images: Path, imgsz: int, batch: int) -> dict[str, Any]:
    """Read the pool with ``mode`` and pass over it once in shuffled batches; memory and speed (module doc)."""
    before_mb, cpu0, wall0 = _peak_mb(), _cpu(), time.perf_counter()
    data = read_coco_detections(labels, images)
    source: Images = (
        letterbox_coco_stacked(data, imgsz)
        if mode == "eager-stack"
        else (letterbox_coco(data, imgsz) if mode == "eager" else stream_coco(data, imgsz)).images
    )
    held = source.numel() if isinstance(source, torch.Tensor) else 0
    built_mb = _peak_mb()
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(0))
    digest = hashlib.blake2b(digest_size=8)
    for start in range(0, len(order), batch):
        digest.update(source[order[start : start + batch]].numpy().data)  # no copy of the batch
    cpu = _cpu() - cpu0
    return {
        "mode": mode,
        "n": len(data.images),
        "imgsz": imgsz,
        "peak_rss_mb": round(_peak_mb(), 1),
        "growth_mb": round(_peak_mb() - before_mb, 1),
        "growth_after_read_mb": round(built_mb - before_mb, 1),
        "held_image_mb": round(held / 2**20, 1),
        "cpu_s": round(cpu, 2),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "images_per_cpu_s": round(len(data.images) / cpu, 1),
        "digest": digest.hexdigest(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--measure", choices=MODES, help=argparse.SUPPRESS)  # one child process: one row
    parser.add_argument("--labels", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.measure:
        print(json.dumps(measure(args.measure, args.labels, args.images, args.imgsz, args.batch)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="pool-benchmark-") as tmp:
        for n in args.sizes:
            root = Path(tmp) / f"n{n}"
            labels = write_pool(root, n, args.width, args.height)
            for mode in args.modes:
                command = [sys.executable, "-m", "revis.detection.pool_benchmark", "--measure", mode]
                command += ["--labels", str(labels), "--images", str(root / "images")]
                command += ["--imgsz", str(args.imgsz), "--batch", str(args.batch)]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)
    checks = {(r["n"], r["digest"]) for r in rows}
    same = len(checks) == len({r["n"] for r in rows})
    print(f"\n{args.width}x{args.height} JPEG frames, letterboxed to {args.imgsz} px, batches of {args.batch}")
    print(f"{'mode':<12}{'N':>6}{'peak RSS MB':>13}{'growth MB':>11}{'held MB':>9}{'CPU s':>8}{'img/CPU s':>11}")
    for r in rows:
        print(
            f"{r['mode']:<12}{r['n']:>6}{r['peak_rss_mb']:>13}{r['growth_mb']:>11}"
            f"{r['held_image_mb']:>9}{r['cpu_s']:>8}{r['images_per_cpu_s']:>11}"
        )
    print(f"every mode gave the same batches, byte for byte, per N: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
