"""Towers split into blocks, the tiny and the CLIP encoder behind one interface, checkpoints, contrastive loss."""

import numpy as np
import pytest
import torch

from revis.datasets.imageset import DataError
from revis.vl.checkpoint import build_encoder, encoder_checkpoint, load_encoder, trainable_names
from revis.vl.contrastive import info_nce, soft_targets
from revis.vl.encoder import cached_prefix, set_trainable
from revis.vl.retrieval import positive_ranks, recall_at_k

TEXTS = ["two red circles moving left", "a blue square", "three striped yellow rings rising in the snow"]


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny(tiny_text_model):
    torch.manual_seed(0)
    config = {"kind": "tiny", "image": {"name": "tiny_vit", "width": 16, "depth": 2, "patch": 8}, "embed_dim": 8}
    return config | {"text_path": str(tiny_text_model)}, build_encoder(config | {"text_path": str(tiny_text_model)})


@pytest.fixture(scope="module")
def clip(tiny_clip_model):
    config = {"kind": "clip", "clip_path": str(tiny_clip_model)}
    return config, build_encoder(config)


@pytest.mark.parametrize("which", ["tiny", "clip"])
def test_blocks_compose_to_the_whole_tower_and_cached_prefixes_are_exact(which, tiny, clip, frames):
    _, encoder = {"tiny": tiny, "clip": clip}[which]
    for tower, inputs in ((encoder.image, frames), (encoder.text, TEXTS)):
        whole = tower(inputs)
        n = tower.num_blocks
        split = tower.project(tower.pool(tower.run(tower.run(tower.prepare(inputs), 0, n - 2), n - 2)))
        assert torch.allclose(whole, split, atol=1e-6)
        # a prefix cached in batches of different padding, then sliced, gives the same embeddings
        cache = cached_prefix(tower, inputs, n - 2, batch_size=2)
        sliced = tower.project(tower.pool(tower.run(cache.select([2, 0]), n - 2)))
        assert torch.allclose(sliced, whole[[2, 0]], atol=1e-5)
    z = encoder.embed_images(frames)
    assert z.shape[0] == 5 and torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-5)


def test_clip_towers_equal_the_transformers_model(clip, frames, tiny_clip_model):
    from transformers import CLIPModel

    _, encoder = clip
    model = CLIPModel.from_pretrained(tiny_clip_model).eval()
    pixels = encoder.image.prepare(frames).hidden
    assert torch.allclose(model.get_image_features(pixel_values=pixels).pooler_output, encoder.image(frames), atol=1e-5)
    tokens = encoder.text.tokenizer(TEXTS, padding=True, return_tensors="pt")
    assert torch.allclose(model.get_text_features(**tokens).pooler_output, encoder.text(TEXTS), atol=1e-5)


@pytest.mark.parametrize("which", ["tiny", "clip"])
def test_last_two_layers_leave_everything_else_frozen(which, tiny, clip, frames):
    config, encoder = {"tiny": tiny, "clip": clip}[which]
    encoder = load_encoder(encoder_checkpoint(encoder, config, trained=[n for n, _ in encoder.named_parameters()]))
    counts = set_trainable(encoder, 2)
    before = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    optimiser = torch.optim.SGD([p for p in encoder.parameters() if p.requires_grad], lr=0.5)
    loss = (encoder.image_features(frames) @ encoder.text_features(TEXTS).T).sum()
    loss.backward()
    optimiser.step()
    trained = set(trainable_names(encoder))
    for tower in (encoder.image, encoder.text):
        blocks = tower.blocks()
        top = {id(p) for b in blocks[-2:] for p in b.parameters} | {id(p) for p in tower.head_parameters()}
        for block in blocks[:-2]:
            assert all(id(p) not in top and not p.requires_grad for p in block.parameters)
    changed = {n for n, p in encoder.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trained  # frozen parameters really stay unchanged after a step
    assert counts["trainable"] == sum(encoder.get_parameter(n).numel() for n in trained) < counts["total"]
    full = set_trainable(encoder, None)
    assert counts["trainable"] < full["trainable"] < full["total"]  # token tables stay frozen by default
    covered = {
        id(p): p.numel()
        for tower in (encoder.image, encoder.text)
        for p in [*(q for b in tower.blocks() for q in b.parameters), *tower.head_parameters()]
    }
    assert set_trainable(encoder, None, train_tables=True)["trainable"] == sum(covered.values())  # every used weight


def test_checkpoints_store_only_what_is_not_from_the_source(tiny, clip, frames):
    config, encoder = tiny
    checkpoint = encoder_checkpoint(encoder, config)
    assert not any(k.startswith("text.bert.") for k in checkpoint["state_dict"])
    restored = load_encoder(checkpoint)
    assert torch.equal(restored.embed_images(frames), encoder.embed_images(frames))
    assert torch.equal(restored.embed_texts(TEXTS), encoder.embed_texts(TEXTS))
    clip_config, clip_encoder = clip
    assert list(encoder_checkpoint(clip_encoder, clip_config)["state_dict"]) == [
        "logit_scale"
    ]  # CLIP's own weights stay on disk
    bad = {"config": config, "state_dict": {"image.proj.weight": torch.zeros(3, 3)}}
    with pytest.raises(DataError, match="does not fit"):
        load_encoder(bad)


def test_soft_info_nce_equals_cross_entropy_for_distinct_contents():
    logits = torch.randn(4, 4)
    distinct = soft_targets(torch.arange(4))
    expected = (
        torch.nn.functional.cross_entropy(logits, torch.arange(4))
        + torch.nn.functional.cross_entropy(logits.T, torch.arange(4))
    ) / 2
    assert torch.allclose(info_nce(logits, distinct), expected)
    shared = soft_targets(torch.tensor([0, 0, 1, 2]))
    assert shared[0].tolist() == [0.5, 0.5, 0, 0] and torch.allclose(shared.sum(1), torch.ones(4))


def test_recall_counts_ties_against_the_model():
    positive = torch.eye(3, dtype=torch.bool)
    assert positive_ranks(torch.zeros(3, 3), positive).tolist() == [2, 2, 2]  # a constant model is not rewarded
    similarity = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.4, 0.1], [0.2, 0.3, 0.1]])
    assert positive_ranks(similarity, positive).tolist() == [0, 1, 2]
    assert recall_at_k(similarity, positive, [1, 2]) == {1: pytest.approx(1 / 3), 2: pytest.approx(2 / 3)}


def test_slot_targets_equal_key_targets_for_full_descriptions_and_spread_over_fitting_frames():
    from revis.vl.contrastive import slot_targets
    from revis.vl.pairs import UNNAMED

    frames = torch.tensor([[0, 1, 2, 0, 3, 4], [0, 1, 2, 0, 3, 4], [1, 0, 2, 1, 3, 4], [2, -1, -1, -1, -1, -1]])
    to_text, to_image = slot_targets(frames, frames)  # every text names everything its frame shows
    keys = soft_targets(torch.tensor([0, 0, 1, 2]))
    assert torch.equal(to_text, keys) and torch.equal(to_image, keys.T)
    partial = frames.clone()
    partial[2] = torch.tensor([UNNAMED, UNNAMED, 2, UNNAMED, 3, UNNAMED])  # "... colour 2, shape 3": fits frames 0-2
    to_text, to_image = slot_targets(frames, partial)
    assert to_image[2].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])  # the partial text: three positives
    assert to_text[2].tolist() == [0, 0, 1, 0]  # frame 2 fits only its own text (the others name values it lacks)
    assert to_text[0].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])
    assert torch.allclose(to_text.sum(1), torch.ones(4)) and torch.allclose(to_image.sum(1), torch.ones(4))


def test_pooled_texts_shared_by_the_seeds_give_the_same_pretraining(tiny):
    """vl-train pools the frozen backbone's texts once for every seed: the same encoder as each seed pooling its own."""
    from revis.vl.contrastive import PretrainConfig, pretrain_encoder, shared_pooled_texts
    from revis.vl.pairs import FrameTextPairs

    config, _ = tiny
    rng = np.random.default_rng(1)
    texts = [TEXTS[i] for i in rng.integers(0, len(TEXTS), 12)]
    pairs = FrameTextPairs(rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8), texts, texts, ["v"] * 12)
    train = PretrainConfig(steps=3, batch_size=4, warmup=1, seed=2)
    own, own_history = pretrain_encoder(config, pairs, train)
    pooled = shared_pooled_texts(config, list(dict.fromkeys(texts)))
    shared, shared_history = pretrain_encoder(config, pairs, train, pooled=pooled)
    assert own_history == shared_history
    assert all(torch.equal(own["state_dict"][k], shared["state_dict"][k]) for k in own["state_dict"])
