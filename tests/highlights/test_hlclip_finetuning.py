"""HL-CLIP pieces: saliency pooling, target normalisations, fine-tuning (frozen prefix, caching), w selection."""

import numpy as np
import pytest
import torch

from revis.datasets.qvhighlights import parse_line
from revis.highlights.comparison import choose_window, compare_runs
from revis.highlights.hlclip import FinetuneConfig, finetune, random_scores, saliency_targets, score_queries
from revis.highlights.pooling import pool_scores
from revis.vl.checkpoint import build_encoder, encoder_checkpoint, load_encoder
from revis.world.videos import WorldConfig, generate_video_world

LINE = {
    "qid": 1,
    "query": "two red circles",
    "vid": "v_0.0_12.0",
    "duration": 12,
    "relevant_windows": [[2, 8]],
    "relevant_clip_ids": [1, 2, 3],
    "saliency_scores": [[4, 4, 4], [2, 3, 1], [0, 0, 0]],
}


def test_pooling_is_a_clipped_window_mean():
    scores = np.array([0.0, 3.0, 0.0, 6.0, 3.0])
    assert pool_scores(scores, 0).tolist() == scores.tolist()
    # w=1: clip 0 averages clips 0-1, clip 4 averages clips 3-4 (the window is cut at the ends)
    assert pool_scores(scores, 1).tolist() == pytest.approx([1.5, 1.0, 3.0, 3.0, 4.5])
    assert pool_scores(np.full(6, 2.0), 3).tolist() == [2.0] * 6
    with pytest.raises(ValueError, match=">= 0"):
        pool_scores(scores, -1)


def test_saliency_normalisations():
    query = parse_line(LINE)
    # annotator means per clip: 0, 4, 2, 0, 0, 0
    assert saliency_targets(query, "mean_div4").tolist() == [0, 1, 0.5, 0, 0, 0]
    assert saliency_targets(query, "mean_minmax").tolist() == [0, 1, 0.5, 0, 0, 0]
    assert saliency_targets(query, "mean_div4_signed").tolist() == [-1, 1, 0, -1, -1, -1]
    low = parse_line({**LINE, "saliency_scores": [[2, 2, 2], [1, 1, 1], [0, 0, 0]]})
    assert saliency_targets(low, "mean_minmax").tolist() == [0, 1, 0.5, 0, 0, 0]
    with pytest.raises(ValueError, match="unknown saliency normalisation"):
        saliency_targets(query, "zscore")


@pytest.fixture(scope="module")
def world():
    return generate_video_world(WorldConfig(seed=1, n_families=4, clips=(10, 12), segment_length=(3, 4)))


@pytest.fixture(scope="module")
def checkpoint(tiny_text_model):
    torch.manual_seed(0)
    config = {
        "kind": "tiny",
        "image": {"name": "tiny_vit", "width": 16, "depth": 3, "patch": 8},
        "embed_dim": 8,
        "text_path": str(tiny_text_model),
    }
    return encoder_checkpoint(build_encoder(config), config)


def test_finetuning_the_last_two_layers_moves_only_them(world, checkpoint):
    queries = world.split("train")
    encoder = load_encoder(checkpoint)
    before = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    result = finetune(
        encoder,
        world.videos,
        queries,
        FinetuneConfig(last_layers=2, steps=3, videos_per_batch=2, frames_per_video=4, lr=1e-2),
    )
    changed = {n for n, p in encoder.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(not n.startswith("text.bert.embeddings") for n in changed)
    assert not any(
        n.startswith(("text.bert.encoder.layer.0.", "image.backbone.encoder.layers.0.", "image.backbone.embed"))
        for n in changed
    )
    assert any(n.startswith("text.bert.encoder.layer.2.") for n in changed)  # the tiny BERT has 3 layers: 1 and 2 train
    assert "logit_scale" not in changed and result["trainable"]["trainable"] < result["trainable"]["total"]
    assert len(result["loss"]) == 3


def test_cached_prefix_gives_the_same_training_as_recomputing_it(world, checkpoint):
    queries = world.split("train")
    config = FinetuneConfig(last_layers=2, steps=2, videos_per_batch=2, frames_per_video=4, lr=1e-2)
    cached, plain = load_encoder(checkpoint), load_encoder(checkpoint)
    a = finetune(cached, world.videos, queries, config)
    b = finetune(plain, world.frames, queries, FinetuneConfig(**{**config.__dict__, "cache_prefix": False}))
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    assert torch.allclose(
        cached.embed_images(world.videos[queries[0].vid]), plain.embed_images(world.videos[queries[0].vid]), atol=1e-5
    )


def test_videos_shorter_than_their_clips_train_on_their_own_last_frame(world, checkpoint):
    """Real videos may hold a frame fewer than the clips counted: the missing clip reads the video's
    own last frame (as scoring does) -- no IndexError, and the cache never reads the next video's frames."""
    queries = world.split("train")
    short = {vid: frames[:-2] for vid, frames in world.videos.items()}  # two frames short everywhere
    config = FinetuneConfig(last_layers=2, steps=3, videos_per_batch=2, frames_per_video=12, lr=1e-2)
    cached, plain, padded = load_encoder(checkpoint), load_encoder(checkpoint), load_encoder(checkpoint)
    a = finetune(cached, short, queries, config)

    def read(vid, indices=None):
        return short[vid] if indices is None else short[vid][np.minimum(indices, len(short[vid]) - 1)]

    b = finetune(plain, read, queries, FinetuneConfig(**{**config.__dict__, "cache_prefix": False}))
    assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    # the same as videos whose missing frames are explicitly copies of their last frame
    explicit = {vid: np.concatenate([f, f[-1:], f[-1:]]) for vid, f in short.items()}
    c = finetune(padded, explicit, queries, config)
    assert a["loss"] == pytest.approx(c["loss"], rel=1e-5)


def test_scores_cover_every_clip(world, checkpoint):
    queries = world.split("val")
    scores = score_queries(load_encoder(checkpoint), world.videos, queries)
    assert all(len(scores[q.qid]) == q.num_clips() for q in queries)
    assert all(np.all(np.abs(s) <= 1 + 1e-6) for s in scores.values())  # cosines


def _agreeing_queries():
    """Three 10-clip queries whose annotators agree, so a score equal to the truth ranks perfectly."""
    lines = []
    for qid, start in enumerate((1, 4, 6)):
        clips = list(range(start, start + 4))
        levels = [[2, 2, 2], [4, 4, 4], [3, 3, 3], [1, 1, 1]]
        lines.append(
            {
                **LINE,
                "qid": qid,
                "duration": 20,
                "relevant_windows": [[2 * start, 2 * start + 8]],
                "relevant_clip_ids": clips,
                "saliency_scores": levels,
            }
        )
    return [parse_line(line) for line in lines]


def test_w_is_chosen_on_the_selection_split():
    queries = _agreeing_queries()
    # perfect scores (distinct, in the truth's order): no pooling is best; pooling blurs the ranking
    perfect = {q.qid: q.saliency().mean(1) - 0.01 * np.arange(q.num_clips()) for q in queries}
    assert choose_window(perfect, queries, [0, 1, 2]) == 0

    # the truth plus one isolated spike far from the highlight: it wins at w=0, pooling w=1 halves it below the peak
    def spiked(q):
        scores = q.saliency().mean(1).copy()
        scores[9 if q.relevant_clip_ids[0] < 5 else 0] = 5.0
        return scores

    jitter = {q.qid: spiked(q) for q in queries}
    assert choose_window(jitter, queries, [0, 1]) == 1
    runs = {
        "perfect": {0: {"eval": perfect, "select": perfect}},
        "jitter": {0: {"eval": perfect, "select": jitter}},  # w chosen on the selection split, applied to eval
        "random": {0: {"eval": random_scores(queries, 0), "select": random_scores(queries, 1)}},
    }
    metrics = compare_runs(runs, queries, queries, [0, 1])
    assert metrics["vg"]["map"]["perfect"]["w0"]["values"] == [100.0]
    assert metrics["vg"]["map"]["random"]["w0"]["mean"] < 100.0
    assert metrics["best_w"]["jitter"]["values"] == [1.0] and metrics["best_w"]["perfect"]["values"] == [0.0]
    assert metrics["vg"]["map"]["jitter"]["pooled"] == metrics["vg"]["map"]["perfect"]["w1"]  # eval scored at w*=1


def test_saliency_head_learns_on_frozen_features_and_scores_every_clip(world, checkpoint):
    from revis.highlights.comparison import highlight_metrics
    from revis.highlights.saliency_head import HeadConfig, SaliencyHead, saliency_head_arm, train_saliency_head

    encoder = load_encoder(checkpoint)
    train, val = world.split("train"), world.split("val")
    before = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    scored, history = saliency_head_arm(encoder, world.videos, train, {"eval": val}, HeadConfig(steps=40, seed=0))
    assert all(torch.equal(p, before[n]) for n, p in encoder.named_parameters())  # the features stay frozen
    assert all(len(scored["eval"][q.qid]) == q.num_clips() for q in val)
    assert np.mean(history[-5:]) < np.mean(history[:5])
    # features that carry the saliency: the head learns to rank the salient clips first
    rng = np.random.default_rng(0)
    query_z = {q.qid: rng.normal(size=8).astype(np.float32) for q in train}
    clip_z = {}
    for q in train:
        from revis.highlights.hlclip import saliency_targets

        target = saliency_targets(q)
        clip_z[q.vid] = (rng.normal(size=(len(target), 8)) * 0.1 + target[:, None] * query_z[q.qid]).astype(np.float32)
    head, _ = train_saliency_head(clip_z, query_z, train, HeadConfig(steps=150, seed=0))
    assert isinstance(head, SaliencyHead)
    with torch.no_grad():
        learned = {q.qid: head(torch.as_tensor(clip_z[q.vid]), torch.as_tensor(query_z[q.qid])).numpy() for q in train}
    assert (
        highlight_metrics(learned, train)["vg"]["map"]
        > highlight_metrics(random_scores(train, 0), train)["vg"]["map"] + 10
    )


def test_seed_jobs_score_as_the_encoders_one_after_another(world, checkpoint):
    """predict_runs: one job per seed, the head's texts pooled once for the seeds (they share the text backbone),
    gives the scores of each run computed on its own, in the runs' order (random, head; then encoders per seed)."""
    import dataclasses

    from revis.highlights.hlclip import score_with_encoders
    from revis.highlights.prediction import predict_runs
    from revis.highlights.runs import FinetunedModels, Run
    from revis.highlights.saliency_head import HeadConfig, saliency_head_arm

    seeds = [0, 1]
    vl = {}
    for seed in seeds:  # a second seed: another image tower and text head, the same text backbone
        encoder = load_encoder(checkpoint)
        torch.manual_seed(seed + 5)
        with torch.no_grad():
            for p in [*encoder.image.parameters(), *encoder.text.head_parameters()]:
                p.add_(0.05 * torch.randn_like(p))
        vl[f"seed{seed}"] = encoder_checkpoint(encoder, checkpoint["config"])
    tuned = {str(Run("last2", s)): vl[f"seed{s}"] for s in seeds}
    models = FinetunedModels({"last2": 2}, seeds, "mean_div4", tuned, {})
    train, val = world.split("train"), world.split("val")
    splits = {"eval": val, "select": train[:3]}
    head = HeadConfig(steps=5)
    runs = predict_runs(models, vl, world.videos, splits, train, head, 2.0, "cpu", workers=1)
    assert list(runs) == ["random/seed0", "head/seed0", "random/seed1", "head/seed1"] + [
        f"{arm}/seed{s}" for s in seeds for arm in ("zeroshot", "last2")
    ]
    for seed in seeds:
        alone, _ = saliency_head_arm(
            load_encoder(vl[f"seed{seed}"]), world.videos, train, splits, dataclasses.replace(head, seed=seed)
        )
        assert runs[f"head/seed{seed}"] == {s: {q: v.tolist() for q, v in by.items()} for s, by in alone.items()}
        for split, queries in splits.items():
            scored = score_with_encoders({"z": load_encoder(vl[f"seed{seed}"])}, world.videos, queries)["z"]
            assert runs[f"zeroshot/seed{seed}"][split] == {q: v.tolist() for q, v in scored.items()}


def test_a_text_prefix_shared_by_the_seeds_gives_the_same_fine_tuning(world, checkpoint):
    """hlclip-train computes the last-2 arm's frozen text prefix once for every seed: the same runs, bit for bit."""
    from revis.highlights.runs import shared_text_prefixes

    queries = world.split("train")
    config = FinetuneConfig(last_layers=2, steps=2, videos_per_batch=2, frames_per_video=4, lr=1e-2)
    encoders = {"seed0": checkpoint, "seed1": checkpoint}
    prefixes = shared_text_prefixes({"last2": 2, "full": None}, [0, 1], encoders, queries, "cpu")
    assert list(prefixes) == ["last2"]  # full tuning has no frozen prefix
    own, shared = load_encoder(checkpoint), load_encoder(checkpoint)
    a = finetune(own, world.videos, queries, config)
    b = finetune(shared, world.videos, queries, config, text_prefix=prefixes["last2"])
    assert a["loss"] == b["loss"]
    assert all(torch.equal(x, y) for x, y in zip(own.parameters(), shared.parameters()))
