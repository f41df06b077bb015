"""Frames of a video file (mp4, avi, ...) sampled as MERLIN samples them, with OpenCV.

MERLIN's ``utils/video_utils.video_frame_generator`` grabs every frame and keeps frame n
(1-based) when ``n % (round(fps) * every_seconds) == 0`` -- one frame per ``every_seconds``
seconds, the first at ``every_seconds`` -- converted BGR -> RGB. ``read_video_frames`` does the
same, decoding (``retrieve``) only the frames it keeps; ``image_size`` resizes the shorter side
and centre-crops as CLIP's processor does (MERLIN resizes to 320 x 240 for its VQA model).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from revis.datasets.imageset import DataError
from revis.datasets.qvhighlights import resize_centre_crop

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov")


def read_video_frames(
    path: str | os.PathLike,
    every_seconds: float = 1.0,
    max_frames: int | None = None,
    image_size: int | None = None,
) -> np.ndarray:
    """uint8 (F, H, W, 3) RGB frames, one per ``every_seconds`` s (MERLIN's sampling); errors name the file."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing video file {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(f"cannot open video {path} (not a video OpenCV can decode)")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        if not np.isfinite(fps) or fps <= 0:
            raise DataError(f"video {path} reports no frame rate ({fps})")
        step = max(1, int(round(fps) * every_seconds))
        frames: list[np.ndarray] = []
        number = 0
        while max_frames is None or len(frames) < max_frames:
            if not capture.grab():
                break
            number += 1
            if number % step:
                continue
            ok, frame = capture.retrieve()
            if not ok:
                raise DataError(f"video {path}: frame {number} cannot be decoded")
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            frames.append(resize_centre_crop(rgb, image_size) if image_size else rgb)
    finally:
        capture.release()
    if not frames:
        raise DataError(f"video {path} yielded no frame at one per {every_seconds:g} s")
    return np.stack(frames)


def find_video(folders: list[Path], vid: str) -> Path:
    """``<folder>/<vid>.<ext>`` in the first folder that has it (MERLIN: TestVideo, then TrainValVideo)."""
    for folder in folders:
        for suffix in VIDEO_SUFFIXES:
            candidate = Path(folder) / f"{vid}{suffix}"
            if candidate.is_file():
                return candidate
    raise DataError(f"no video file for {vid} under {', '.join(str(f) for f in folders)}")
