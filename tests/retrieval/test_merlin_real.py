"""MERLIN on real data: MERLIN's MSR-VTT subset, left-truncated prompts, the loop over real frames with open models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from revis.datasets.imageset import DataError


def _shared(name: str) -> Path:
    """../shared/data/<name> beside the checkout (or $REVIS_SHARED_DATA/<name>); skip when absent."""
    roots = [Path(os.environ["REVIS_SHARED_DATA"])] if os.environ.get("REVIS_SHARED_DATA") else []
    roots += [parent / "shared" / "data" for parent in Path(__file__).resolve().parents[2].parents]
    for root in roots:
        if (root / name).is_dir():
            return root / name
    pytest.skip(f"the released files ../shared/data/{name}/ are not on this machine")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from revis.vl.checkpoint import build_encoder
    from revis.vl.tiny_models import write_tiny_clip

    folder = write_tiny_clip(tmp_path_factory.mktemp("clip"), image_size=32)
    return build_encoder({"kind": "clip", "clip_path": str(folder)})


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from revis.retrieval.llm import TransformersChat, write_tiny_causal_lm

    return TransformersChat(write_tiny_causal_lm(tmp_path_factory.mktemp("lm")))


# ----------------------------------------------------------------------------- MERLIN's subset


def test_msrvtt_subset_is_merlins_order_first_n_and_last_caption(tmp_path):
    from revis.retrieval.real_data import read_msrvtt_merlin

    (tmp_path / "msrvtt_1ka").write_text("video9\nvideo3\nvideo5\n")
    train_val = {"sentences": [{"video_id": "video3", "caption": "an early caption"}]}
    test = {
        "sentences": [
            {"video_id": "video9", "caption": "first of nine"},
            {"video_id": "video3", "caption": "a later caption"},
            {"video_id": "video9", "caption": "last of nine"},
            {"video_id": "video5", "caption": "five"},
        ]
    }
    (tmp_path / "train_val.json").write_text(json.dumps(train_val))
    (tmp_path / "test.json").write_text(json.dumps(test))
    files = [tmp_path / "train_val.json", tmp_path / "test.json"]
    # the id file's order (not sorted), the last sentence per video across the files in order
    assert read_msrvtt_merlin(tmp_path / "msrvtt_1ka", files, limit=2) == [
        ("video9", "last of nine"),
        ("video3", "a later caption"),
    ]
    with pytest.raises(DataError, match="have no caption"):
        read_msrvtt_merlin(tmp_path / "msrvtt_1ka", [tmp_path / "train_val.json"])


def test_merlins_released_id_list_gives_its_first_500_in_file_order(tmp_path):
    from revis.retrieval.real_data import read_msrvtt_merlin

    ids_file = _shared("merlin-msrvtt") / "msrvtt_1ka"
    ids = [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
    annotations = tmp_path / "test_videodatainfo.json"
    annotations.write_text(json.dumps({"sentences": [{"video_id": v, "caption": f"about {v}"} for v in ids]}))
    subset = read_msrvtt_merlin(ids_file, [annotations])
    assert len(ids) == 1000 and len(subset) == 500
    assert [v for v, _ in subset] == ids[:500] and subset[0][0] == "video7020"
    # the JSFusion csv's first rows start at video9770: a different subset
    assert "video9770" not in {v for v, _ in subset}


# ----------------------------------------------------------------------------- prompts


def test_long_prompts_lose_their_oldest_tokens_so_the_newest_turn_survives(tiny_lm):
    from revis.retrieval.questioners import Dialogue, LLMQuestioner, Question, Turn

    dialogue = Dialogue("a man is cooking")
    for i in range(60):  # far beyond the tiny model's 512 positions
        dialogue.turns.append(Turn(f"caption {i}", Question(f"question number {i}?"), f"answer number {i}"))
    messages = LLMQuestioner.messages(dialogue, "the newest anchor caption")
    encoded = tiny_lm.encode(messages, max_tokens=16)
    assert encoded["input_ids"].shape[1] == tiny_lm.context_tokens() - 16
    kept = tiny_lm.tokenizer.decode(encoded["input_ids"][0])
    assert "answer number 59" in kept and "the newest anchor caption" in kept
    assert "answer number 0 " not in kept  # the oldest turn went
    assert tiny_lm.chat(messages, temperature=0.0, max_tokens=4) is not None  # generates without overflowing


# ----------------------------------------------------------------------------- the loop with open components


def _toy_videos(n: int = 5, frames: int = 4, size: int = 32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"video{i}": rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8) for i in range(n)}


def test_interactive_loop_runs_rounds_with_a_local_clip_frame_answerer_and_llm_questioner(tiny_clip, tiny_lm):
    from revis.retrieval.open_loop import ClipGallery, FrameAnswerer, run_open_merlin
    from revis.retrieval.questioners import LLMQuestioner

    frames = _toy_videos()
    pairs = [(vid, f"a person doing thing {i}") for i, vid in enumerate(frames)]
    gallery = ClipGallery(tiny_clip)
    answerer = FrameAnswerer(gallery, backend=tiny_lm, max_tokens=6)
    result, _queries, captions = run_open_merlin(
        pairs, frames, gallery, LLMQuestioner(tiny_lm, max_tokens=6), answerer, rounds=2, k=3
    )
    assert result.ranks.shape == (3, len(pairs)) and ((result.ranks >= 1) & (result.ranks <= len(pairs))).all()
    assert result.asked.tolist() == [len(pairs)] * 2 and result.answered.min() > 0
    assert all(len(d.turns) == 2 and d.turns[0].question.text for d in result.dialogues)
    assert all(c.startswith("In ") for c in captions)  # described from the frames (no captions given)
    # answers change the query embeddings: some target moves between round 0 and round 2
    without_llm = FrameAnswerer(gallery)
    answer = without_llm.answer("What colour is the car?", frames["video0"])
    assert answer.slot == "colour" and len(answer.per_frame) == 4 and answer.text.startswith("The main colours")


def test_the_two_released_msrvtt_videos_read_and_run_through_the_loop(tiny_clip, tiny_lm):
    from revis.datasets.videofile import find_video, read_video_frames
    from revis.retrieval.open_loop import ClipGallery, FrameAnswerer, run_open_merlin
    from revis.retrieval.questioners import LLMQuestioner, RuleQuestioner

    root = _shared("merlin-msrvtt") / "videos"
    folders = [root / "TestVideo", root / "TrainValVideo"]
    first, second = find_video(folders, "video7010"), find_video(folders, "video0")
    a, b = read_video_frames(first), read_video_frames(second)
    # MERLIN's sampling: one frame per round(fps) frames -- 270 frames at 15 fps, 300 at 25 fps
    assert a.shape == (18, 240, 320, 3) and b.shape == (12, 240, 320, 3) and a.dtype == np.uint8
    assert a.std() > 5 and not np.array_equal(a[0], a[-1])  # real, changing pictures
    cropped = read_video_frames(first, every_seconds=2.0, max_frames=3, image_size=32)
    assert cropped.shape == (3, 32, 32, 3)
    frames = {"video7010": a, "video0": b}
    pairs = [("video7010", "a cartoon is playing"), ("video0", "a car drives down a road")]
    gallery = ClipGallery(tiny_clip)
    for questioner in (LLMQuestioner(tiny_lm, max_tokens=6), RuleQuestioner()):
        result, _, _ = run_open_merlin(pairs, frames, gallery, questioner, FrameAnswerer(gallery), rounds=1, k=2)
        assert result.ranks.shape == (2, 2) and result.answered[0] == 2
    with pytest.raises(DataError, match="no video file for video1"):
        find_video(folders, "video1")


# ----------------------------------------------------------------------------- the pipeline's real path


def _write_msrvtt(root: Path, n: int = 4) -> None:
    """A tiny MSR-VTT in MERLIN's layout: msrvtt_1ka, two videodatainfo jsons, videos/TestVideo/<vid>.mp4."""
    import cv2

    vids = [f"video{7000 + i}" for i in range(n)]
    (root / "msrvtt_1ka").write_text("\n".join(vids) + "\n")
    (root / "train_val.json").write_text(json.dumps({"sentences": [{"video_id": vids[0], "caption": "old"}]}))
    sentences = [
        {"video_id": v, "caption": f"{c} shapes in a room"} for v, c in zip(vids, ["red", "blue", "green", "white"])
    ]
    (root / "test.json").write_text(json.dumps({"sentences": sentences}))
    (root / "videos" / "TestVideo").mkdir(parents=True)
    (root / "captions").mkdir()
    (root / "captions" / vids[0]).write_text(json.dumps("A person shapes red fondant."))  # MERLIN's GPT-4V format
    rng = np.random.default_rng(1)
    for i, vid in enumerate(vids):
        writer = cv2.VideoWriter(
            str(root / "videos" / "TestVideo" / f"{vid}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (48, 32)
        )
        for _ in range(15):  # 3 s at 5 fps: three frames at one per second
            writer.write(np.clip(rng.normal(60 * i, 30, (32, 48, 3)), 0, 255).astype(np.uint8))
        writer.release()


def _merlin_params(root: Path, clip: Path, lm: Path | None, **evaluate):
    from revis.pipelines.merlin.params import Params

    real = {
        "dataset": "msrvtt",
        "annotations": str(root / "test.json"),
        "train_annotations": str(root / "train_val.json"),
        "id_list": str(root / "msrvtt_1ka"),
        "limit": 3,
        "videos": str(root / "videos"),
        "clip_path": str(clip),
        "captions": str(root / "captions"),
    }
    llm = {"backend": "transformers", "path": str(lm), "max_tokens": 6} if lm else {}
    defaults = {"rounds": 2, "conventions": ["answer"], "questioners": ["rule", "entropy"], "noise": [0.0]}
    return Params.model_validate(
        {"seeds": [0], "features": {"real": real}, "evaluate": {**defaults, "llm": llm, **evaluate}}
    )


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    from revis.vl.tiny_models import write_tiny_clip

    return write_tiny_clip(tmp_path_factory.mktemp("clipdir"), image_size=32)


@pytest.fixture(scope="module")
def lm_folder(tmp_path_factory):
    from revis.retrieval.llm import write_tiny_causal_lm

    return write_tiny_causal_lm(tmp_path_factory.mktemp("lmdir"))


def test_the_pipelines_real_path_runs_the_loop_on_videos_with_a_local_clip_and_llm(tmp_path, clip_folder, lm_folder):
    from revis.pipelines.merlin.nodes_evaluate import report_metrics
    from revis.pipelines.merlin.nodes_features import embed_gallery_and_queries
    from revis.reporting.results import to_json
    from revis.retrieval.real_loop import RealLoopMetrics

    _write_msrvtt(tmp_path)
    params = _merlin_params(
        tmp_path, clip_folder, lm_folder, questioners=["rule", "entropy", "llm"], llm={
            "backend": "transformers", "path": str(lm_folder), "max_tokens": 6, "aggregate_answers": True}
    )  # fmt: skip
    features = embed_gallery_and_queries({}, None, params.seeds, params.compute, params.features)
    # MERLIN's subset: msrvtt_1ka's order, the first 3, the last caption (test after train_val)
    assert features["vids"] == ["video7000", "video7001", "video7002"]
    assert features["captions"][0] == "red shapes in a room"
    assert [tuple(z.shape[:1]) for z in features["frame_z"]] == [(3,)] * 3  # one frame per second of 3 s
    assert features["anchor_captions"] == ["A person shapes red fondant.", "", ""]
    runs, metrics, _, _ = report_metrics(features, {}, None, params.compute, params.evaluate)
    assert isinstance(metrics, RealLoopMetrics)
    assert set(metrics.rounds) == {
        "rule_answer_noise0",
        "entropy_answer_noise0",
        "llm_answer_noise0",
        "control_rule_answer",
    }
    for arm, per_round in metrics.rounds.items():
        assert sorted(per_round) == ["round0", "round1", "round2"]
        assert per_round["round0"]["r1"]["mean"] == metrics.zero_shot["r1"]  # every arm starts from round 0
        assert metrics.answered_per_round[arm] == [3, 3]  # every query got an answer in every round
    assert metrics.questions_per_query["rule_answer_noise0"] == 2.0
    ranks = np.asarray(runs["ranks"]["rule_answer_noise0"])
    assert ranks.shape == (3, 3) and ((ranks >= 1) & (ranks <= 3)).all()
    assert runs["captions"][1].startswith("In ")  # no given caption: described from the frames
    assert len(runs["example"]["turns"]) == 2
    blob = json.loads(json.dumps(to_json(metrics)))
    assert set(blob["rounds"]["llm_answer_noise0"]["round2"]) == {"r1", "r5", "r10", "mdr", "mnr"}


def test_the_answers_move_the_query_embeddings_so_ranks_can_change(tmp_path, clip_folder):
    from revis.pipelines.merlin.nodes_features import embed_gallery_and_queries
    from revis.retrieval.experiment import Condition, LoopSettings, make_questioner
    from revis.retrieval.real_loop import run_real_loop

    _write_msrvtt(tmp_path, n=4)
    params = _merlin_params(tmp_path, clip_folder, None)
    features = embed_gallery_and_queries({}, None, params.seeds, params.compute, params.features)
    settings = LoopSettings(2, 0.8, 10, False, "skip")
    arms = [Condition("rule_answer_noise0", "rule", "answer", 0.0, False)]
    factory = lambda name, seed: make_questioner(name, seed, params.evaluate.llm)  # noqa: E731
    _, moved = run_real_loop(features, arms, settings, factory)
    _, still = run_real_loop(features, arms, LoopSettings(2, 0.0, 10, False, "skip"), factory)  # alpha 0: no move
    assert still.rounds["rule_answer_noise0"]["round2"] == still.rounds["rule_answer_noise0"]["round0"]
    assert moved.rounds["rule_answer_noise0"]["round0"] == still.rounds["rule_answer_noise0"]["round0"]
    assert moved.questions_per_query["rule_answer_noise0"] == 2.0


def test_pre_extracted_embeddings_still_give_round_0_only(tmp_path):
    from revis.pipelines.merlin.nodes_evaluate import report_metrics
    from revis.pipelines.merlin.nodes_features import embed_gallery_and_queries
    from revis.pipelines.merlin.params import Params
    from revis.retrieval.metrics import ZeroShotMetrics

    root = _shared("merlin-msrvtt")
    (tmp_path / "test.json").write_text(json.dumps({"sentences": [{"video_id": "video7020", "caption": "fondant"}]}))
    real = {
        "dataset": "msrvtt",
        "annotations": str(tmp_path / "test.json"),
        "embeddings": str(root),
        "id_list": str(root / "msrvtt_1ka"),
        "limit": 1,
    }
    params = Params.model_validate({"seeds": [0], "features": {"real": real}})
    features = embed_gallery_and_queries({}, None, params.seeds, params.compute, params.features)
    assert "frame_z" not in features and features["vids"] == ["video7020"]
    _, metrics, _, _ = report_metrics(features, {}, None, params.compute, params.evaluate)
    assert isinstance(metrics, ZeroShotMetrics) and metrics.zero_shot["r1"] == 100.0


def test_real_data_params_need_a_clip_folder_for_videos():
    from pydantic import ValidationError

    from revis.pipelines.merlin.params import RealData

    with pytest.raises(ValidationError, match="needs clip_path"):
        RealData.model_validate({"dataset": "msrvtt", "annotations": "a.json", "videos": "v"})
    with pytest.raises(ValidationError, match="MSR-VTT subset"):
        RealData.model_validate({"dataset": "msvd", "annotations": "a", "embeddings": "e", "id_list": "ids"})


def test_the_pipelines_real_path_reads_the_released_msrvtt_videos(tmp_path, clip_folder):
    from revis.pipelines.merlin.nodes_evaluate import report_metrics
    from revis.pipelines.merlin.nodes_features import embed_gallery_and_queries
    from revis.pipelines.merlin.params import Params

    root = _shared("merlin-msrvtt")
    (tmp_path / "ids").write_text("video7010\nvideo0\n")
    sentences = [{"video_id": "video7010", "caption": "a cartoon plays"}, {"video_id": "video0", "caption": "a car"}]
    (tmp_path / "test.json").write_text(json.dumps({"sentences": sentences}))
    real = {
        "dataset": "msrvtt",
        "annotations": str(tmp_path / "test.json"),
        "id_list": str(tmp_path / "ids"),
        "videos": str(root / "videos"),  # MERLIN's TestVideo / TrainValVideo folders
        "clip_path": str(clip_folder),
        "captions": str(root / "gpt4v_captions"),
        "max_frames": 4,
    }
    evaluate = {"rounds": 1, "conventions": ["answer"], "questioners": ["rule"], "noise": [0.0], "control": False}
    params = Params.model_validate({"seeds": [0], "features": {"real": real}, "evaluate": evaluate})
    features = embed_gallery_and_queries({}, None, params.seeds, params.compute, params.features)
    assert [tuple(z.shape[:1]) for z in features["frame_z"]] == [(4,), (4,)]
    _, metrics, _, _ = report_metrics(features, {}, None, params.compute, params.evaluate)
    assert metrics.answered_per_round == {"rule_answer_noise0": [2]}  # type: ignore[union-attr]
