"""The ``weights:`` option: a local checkpoint loaded into the detector where names and shapes agree."""

import pytest
import torch

from revis.detection.detector import build_detector, load_pretrained


def test_pretrained_weights_load_where_names_and_shapes_agree(tmp_path):
    coco = build_detector("yolov8n.yaml", 80, 1)  # a checkpoint with COCO's 80 classes
    torch.save({"model": coco, "epoch": 3}, tmp_path / "yolov8n.pt")  # ultralytics' layout
    smoke = build_detector("yolov8n.yaml", 1, 0)
    report = load_pretrained(smoke, str(tmp_path / "yolov8n.pt"))
    mine, theirs = smoke.state_dict(), coco.state_dict()
    assert report["loaded"] > 300 and report["skipped"]  # the backbone and neck; not the 80-class head layers
    assert all("model.22.cv3" in name for name in report["skipped"])  # only class-logit convolutions keep their init
    assert torch.equal(mine["model.0.conv.weight"], theirs["model.0.conv.weight"])
    torch.save(smoke.state_dict(), tmp_path / "state.pt")  # a plain state dict loads completely
    assert load_pretrained(build_detector("yolov8n.yaml", 1, 5), str(tmp_path / "state.pt"))["skipped"] == []
    with pytest.raises(FileNotFoundError, match=r"lada\.train\.detector\.weights"):
        load_pretrained(smoke, str(tmp_path / "missing.pt"))
