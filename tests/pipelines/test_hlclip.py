"""The videos, vl and hlclip pipelines: in-memory wiring (fast) and KedroSession runs (integration)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from revis.reporting.claims import ClaimsFile, claim_paths, lookup
from revis.reporting.results import to_json

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture(scope="module")
def tiny(tiny_text_model):
    """Tiny parameters of the three pipelines, the text tower a tiny random BERT (fast)."""
    tiny = yaml.safe_load((REPO / "tests/tiny/videos.yaml").read_text())
    for name in ("vl", "hlclip"):
        tiny.update(yaml.safe_load((REPO / f"tests/tiny/{name}.yaml").read_text()))
    params = committed_params()
    for name, section in tiny.items():
        params[name] = _merge(params[name], section)
    params["vl"]["encoder"]["text_path"] = str(tiny_text_model)
    return params


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@pytest.fixture
def keep_memory(monkeypatch):
    """Keep every in-memory dataset after its last reader (the runner releases them; we read them afterwards)."""
    from kedro.io import MemoryDataset

    monkeypatch.setattr(MemoryDataset, "_release", lambda self: None)


def test_pipelines_wire_in_memory(run_in_memory, tiny, keep_memory):
    from revis.pipelines.videos.nodes_ingest import make_videos
    from revis.pipelines.videos.params import Params

    videos = run_in_memory("videos", {}, {"videos": tiny["videos"]})
    world = videos["videos.qvhighlights"]
    videos_metrics = to_json(videos["videos.metrics"])
    assert videos_metrics["families"]["crossing_splits"] == 0  # splits never share a family
    assert sum(videos_metrics["videos"].values()) == len(world.world()["videos"])
    assert 0 < videos_metrics["highlights"]["relevant_share"] < 1
    assert [q.query for q in make_videos(Params.model_validate(tiny["videos"])).split("train")] == [
        q.query for q in world.split("train")
    ]  # deterministic
    vl = run_in_memory("vl", {"videos.qvhighlights": world}, {"vl": tiny["vl"]})
    assert set(vl["vl.encoders"]["checkpoints"]) == {"seed0", "seed1"}
    vl_metrics = to_json(vl["vl.metrics"])
    for k in (1, 5):  # recall is a fraction, at least chance for a constant model, and grows with k
        assert 0 <= vl_metrics["zero_shot"][f"r{k}"]["mean"] <= 1
        assert vl_metrics["chance"][f"r{k}"] == min(1.0, k / vl_metrics["gallery_texts"])
    r1, r5 = vl_metrics["zero_shot"]["r1"]["values"], vl_metrics["zero_shot"]["r5"]["values"]
    assert all(a <= b for a, b in zip(r1, r5))  # per seed
    assert vl_metrics["final_loss"]["n"] == 2 and vl_metrics["final_loss"]["seeds"] == [0, 1]
    hl = run_in_memory(
        "hlclip", {"videos.qvhighlights": world, "vl.encoders": vl["vl.encoders"]}, {"hlclip": tiny["hlclip"]}
    )
    metrics = to_json(hl["hlclip.metrics"])
    assert set(metrics["vg"]["map"]) == {"random", "zeroshot", "head", "last2", "full"}
    for level in ("fair", "good", "vg"):  # percentages over the two seeds, at every window and pooled
        for by_window in metrics[level]["map"].values():
            assert all(0 <= v["mean"] <= 100 and v["n"] == 2 for v in by_window.values())
    assert all(w in (0, 1) for by_arm in metrics["best_w"].values() for w in by_arm["values"])
    counts = metrics["trainable_parameters"]
    assert counts["last2"]["trainable"] < counts["full"]["trainable"] < counts["full"]["total"]
    assert metrics["queries"]["select_w"] == 4 and metrics["queries"]["eval"] == len(world.split("val"))
    # every run's eval scores form an official-format submission: one score per clip of each val query
    run = hl["hlclip.predictions"]["runs"]["last2/seed0"]["eval"]
    assert all(len(run[q.qid]) == q.num_clips() for q in world.split("val"))
    # every claim's metric exists in what the pipelines write
    for name, produced in (("vl", vl_metrics), ("hlclip", metrics), ("videos", videos_metrics)):
        claims = ClaimsFile.model_validate(yaml.safe_load((REPO / f"claims/{name}.yaml").read_text()))
        for claim in claims.claims:
            for path in claim_paths(claim):
                lookup(produced, path)


def test_vl_pretrains_on_a_broad_world_of_its_own(tiny, monkeypatch):
    from revis.pipelines.videos.nodes_ingest import make_videos
    from revis.pipelines.videos.params import Params as VideoParams
    from revis.pipelines.vl import nodes_train
    from revis.pipelines.vl.params import Params
    from revis.world.videos import EXTRA_BACKGROUNDS, EXTRA_VALUES

    seen: list = []
    monkeypatch.setattr(nodes_train, "pretrain_seeds", lambda encoder, pairs, *rest: seen.append(pairs))
    world = make_videos(VideoParams.model_validate(tiny["videos"]))
    extras = {*EXTRA_BACKGROUNDS, *(str(v) for values in EXTRA_VALUES.values() for v in values)}
    highlight_frames = {f.tobytes() for vid in world.video_ids("train") for f in world.frames(vid)}
    for world_params in ({"include_train_split": False}, {"include_train_split": True}, None):
        p = Params.model_validate(tiny["vl"])
        p.train.world = None if world_params is None else p.train.world.model_copy(update=world_params)
        nodes_train.pretrain_encoders(world, p.seeds, p.compute, p.data, p.encoder, p.train)
        pairs, values = seen[-1], {v for key in seen[-1].keys for v in key.split("|")}
        frames = [f.tobytes() for f in pairs.frames]
        if world_params is None:  # the highlight world's training split only
            assert not values & extras and set(frames) == highlight_frames
        elif world_params["include_train_split"]:  # a superset: the broad world, then the training split
            assert values & extras and set(frames[-len(highlight_frames) :]) == highlight_frames
            assert not set(frames[: -len(highlight_frames)]) & highlight_frames
            assert len(pairs.text_slots) == len(pairs.texts) == len(frames)
        else:  # another draw with a broader vocabulary: the highlight videos are never seen
            assert values & extras and not set(frames) & highlight_frames


def _real_layout(root: Path) -> None:
    """A QVHighlights folder as the release ships it (no world.json) with frames at 0.5 fps as JPEGs."""
    rng = np.random.default_rng(0)
    splits = {"train": [], "val": []}
    for qid in range(8):
        split = "train" if qid < 5 else "val"
        vid = f"yt{qid:03d}_{qid * 150}.0_{qid * 150 + 20}.0"
        clips = [2, 3, 4]
        splits[split].append(
            {
                "qid": qid,
                "query": f"person number {qid} waves",
                "duration": 20,
                "vid": vid,
                "relevant_windows": [[4, 10]],
                "relevant_clip_ids": clips,
                "saliency_scores": [[int(s) for s in rng.integers(1, 5, 3)] for _ in clips],
            }
        )
        (root / "frames" / vid).mkdir(parents=True)
        for clip in range(10):
            image = rng.integers(0, 255, (24, 30, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "frames" / vid / f"{clip:05d}.jpg")
    for split, lines in splits.items():
        (root / f"highlight_{split}_release.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.integration
def test_real_data_layout_with_a_local_clip(tmp_path, run_in_memory, tiny, tiny_clip_model, keep_memory):
    """Paper-scale code path offline: frames/<vid>/*.jpg, no captions, a CLIPModel from a local folder."""
    _real_layout(tmp_path / "qvh")
    params = json.loads(json.dumps(tiny))
    params["vl"]["data"] |= {"root": str(tmp_path / "qvh"), "image_size": 32}
    params["vl"]["encoder"] = {"kind": "clip", "clip_path": str(tiny_clip_model)}
    params["hlclip"]["data"] |= {"root": str(tmp_path / "qvh"), "image_size": 32}
    params["hlclip"]["train"] |= {"cache_prefix": False, "full_tables": True}
    vl = run_in_memory("vl", {"videos.qvhighlights": None}, {"vl": params["vl"]})
    assert to_json(vl["vl.metrics"])["gallery_texts"] == 3  # the val queries, each with its highest-rated frame
    assert vl["vl.encoders"]["checkpoints"]["seed0"]["state_dict"].keys() == {"logit_scale"}  # CLIP stays on disk
    hl = run_in_memory(
        "hlclip", {"videos.qvhighlights": None, "vl.encoders": vl["vl.encoders"]}, {"hlclip": params["hlclip"]}
    )
    assert hl["hlclip.metrics"].queries == {"eval": 3, "select_w": 4}
    assert hl["hlclip.metrics"].trainable_parameters["full"]["trainable"] > 0


def _curves_reach_mlflow() -> bool:
    """Whether this checkout's tracking installs ``revis.curves``' sink (``revis.tracking.client``)."""
    import importlib.util

    try:
        return importlib.util.find_spec("revis.tracking.client") is not None
    except ModuleNotFoundError:  # revis.tracking is a module here, not the package with the client
        return False


@pytest.mark.integration
def test_kedro_session_runs_write_the_real_formats(project_factory, kedro_run, tiny_text_model):
    from revis.datasets.qvhighlights import QvhCorpus

    root = project_factory("hlclip", extra={"vl": {"encoder": {"text_path": str(tiny_text_model)}}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVIS_MLFLOW_DB", str(root.parent / "mlflow.db"))
        patch.chdir(root)
        for pipeline, tags in (
            ("videos", None),
            ("vl", ["train"]),
            ("vl", ["evaluate"]),
            ("hlclip", ["train"]),
            ("hlclip", ["evaluate"]),
        ):
            kedro_run(root, pipeline, tags)
    corpus = QvhCorpus(root / "data/01_raw/videos")
    assert set(corpus.splits) == {"train", "val", "test"} and corpus.world()["videos"]
    first = corpus.split("train")[0]
    assert corpus.frames(first.vid).shape == (first.num_clips(), 32, 32, 3)
    for name in ("videos", "vl", "hlclip"):
        metrics = json.loads((root / f"reports/{name}/metrics.json").read_text())
        assert "scale" in metrics or name == "videos"
    for picture in (
        "videos/plots/samples",
        "vl/plots/similarity",
        "vl/plots/pretraining",
        "hlclip/plots/strips",
        "hlclip/plots/pooling",
        "hlclip/plots/finetuning",
    ):
        assert (root / f"reports/{picture}.png").stat().st_size > 5_000
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("hlclip")
    runs = {r.data.tags["dvc_stage"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"hlclip-train", "hlclip-evaluate"}
    assert "vg.map.last2.w0.mean" in runs["hlclip-evaluate"].data.metrics
    if _curves_reach_mlflow():
        assert any(key.endswith("/mse") for key in runs["hlclip-train"].data.metrics)  # fine-tuning curves
