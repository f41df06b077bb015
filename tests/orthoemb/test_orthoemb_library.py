"""orthoemb's world library (subjects, pose-changing prompts, scoring), the DreamBench loader, and the DINO / CLIP
scorers on tiny random-weight models saved locally."""

import numpy as np
import pytest
import torch

from revis.orthoemb.dreambench import load_dreambench, parse_prompts_and_classes
from revis.orthoemb.subjects import ALL_SUBJECTS, OPPOSITE, evaluation_cases, score_cases, training_references
from revis.world.judge import Judgement

SPEC = """Classes
subject_name,class
backpack,backpack
dog2,dog

Prompts
Object Prompts
prompt_list = [
'a {0} {1} in the jungle'.format(unique_token, class_token),
'a {0} {1} on the beach'.format(unique_token, class_token),
]
Live Subject Prompts
prompt_list = [
'a {0} {1} wearing a red hat'.format(unique_token, class_token),
]
"""


def test_subjects_and_cases():
    assert len({s.index for s in ALL_SUBJECTS}) == 24
    images, prompts, subjects = training_references(20, 0, 16, (0.17, 0.22), pose_in_text=1.0)
    assert images.shape == (20, 16, 16, 3) and len(subjects) == 20
    assert all(p.startswith("a S*") for p in prompts) and any(p != "a S*" for p in prompts)
    _, none = training_references(5, 0, 16, (0.17, 0.22), pose_in_text=0.0)[:2]
    assert none == ["a S*"] * 5
    refs, cases = evaluation_cases(6, 1, 16, (0.17, 0.22))
    assert refs.shape == (6, 16, 16, 3)
    for i, case in enumerate(cases):
        assert case.target_corner == OPPOSITE[case.reference_corner]
        assert (case.other is not None) == (i % 2 == 1)
        assert "S*" in case.prompt() and case.subject.phrase in case.prompt(case.subject.phrase)
        if case.other:
            assert case.other_corner not in (case.reference_corner, case.target_corner)


def test_scoring_counts_leakage_compliance_identity_and_fidelity():
    _, cases = evaluation_cases(2, 3, 16, (0.17, 0.22))
    a, b = cases
    corner = {
        "top left": (0.25, 0.25),
        "top right": (0.25, 0.75),
        "bottom left": (0.75, 0.25),
        "bottom right": (0.75, 0.75),
    }

    def obj(name, where, striped=False, area=10):
        cy, cx = corner[where]
        return {"name": name, "cy": cy, "cx": cx, "area": area, "striped": striped}

    objects = [
        [obj(a.subject.name, a.reference_corner, a.subject.striped)],  # copies the reference's pose
        [obj(b.subject.name, b.target_corner, not b.subject.striped), obj(b.other, b.other_corner, area=30)],
    ]
    judged = Judgement(np.zeros((2, 12), bool), np.array([1, 2]), np.zeros(2, bool), objects)
    s = score_cases(judged, cases)
    assert s["leakage"].tolist() == [True, False] and s["compliance"].tolist() == [False, True]
    assert s["identity"].tolist() == [True, False]  # wrong texture in the second
    assert s["colour_shape"].tolist() == [True, True]
    assert s["fidelity"].tolist() == [False, True] and s["has_other"].tolist() == [False, True]


def _write_bench(root):
    for name in ("backpack", "dog2"):
        (root / "dataset" / name).mkdir(parents=True)
        for i in range(2):
            from PIL import Image

            Image.fromarray(np.full((20, 20, 3), 40 * i + (0 if name == "dog2" else 100), np.uint8)).save(
                root / "dataset" / name / f"{i:02d}.jpg"
            )
    (root / "dataset" / "prompts_and_classes.txt").write_text(SPEC)


def test_dreambench_layout(tmp_path):
    classes, objects, live = parse_prompts_and_classes(SPEC)
    assert classes == {"backpack": "backpack", "dog2": "dog"}
    assert objects == ["a {0} {1} in the jungle", "a {0} {1} on the beach"] and live == ["a {0} {1} wearing a red hat"]
    _write_bench(tmp_path)
    subjects = load_dreambench(tmp_path)
    assert [s.name for s in subjects] == ["backpack", "dog2"]
    assert subjects[0].prompt_texts("S*") == ["a S* backpack in the jungle", "a S* backpack on the beach"]
    assert subjects[1].live and subjects[1].prompt_texts("sks") == ["a sks dog wearing a red hat"]
    assert len(subjects[0].images) == 2
    with pytest.raises(FileNotFoundError):
        load_dreambench(tmp_path / "missing")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A random-weight ViT (DINO stand-in) and CLIP, with their processors, saved as local folders."""
    from transformers import (
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
        ViTConfig,
        ViTImageProcessor,
        ViTModel,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.clip.configuration_clip import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    root = tmp_path_factory.mktemp("scorers")
    torch.manual_seed(0)
    vit = ViTModel(
        ViTConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
        ),
        add_pooling_layer=False,
    )
    vit.save_pretrained(root / "dino")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root / "dino")
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    vocab_file, merges_file = root / "vocab.json", root / "merges.txt"
    import json

    vocab_file.write_text(json.dumps(vocab))
    merges_file.write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=32)
    config = CLIPConfig(
        text_config=CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=32,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        ),
        vision_config=CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=8,
    )
    CLIPModel(config).save_pretrained(root / "clip")
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(root / "clip")
    return root


def test_scorers_on_tiny_local_models(tiny_models, tmp_path):
    from revis.orthoemb.scorers import ClipScorer, DinoScorer, dreambench_scores

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (2, 40, 40, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (3, 40, 40, 3), dtype=np.uint8)
    dino, clip = DinoScorer(tiny_models / "dino"), ClipScorer(tiny_models / "clip")
    assert dino.similarity(a[:1], a[:1]) == pytest.approx(1.0, abs=1e-5)
    assert -1 <= dino.similarity(a, b) <= 1
    assert clip.image_similarity(a[:1], a[:1]) == pytest.approx(1.0, abs=1e-5)
    assert -1 <= clip.text_similarity(a, ["a dog", "a backpack on the beach"]) <= 1
    _write_bench(tmp_path)
    subjects = load_dreambench(tmp_path)
    scores = dreambench_scores(
        {"backpack": {"a backpack in the jungle": list(a)}, "dog2": {"a dog wearing a red hat": list(b[:1])}},
        subjects,
        dino,
        clip,
    )
    assert set(scores) == {"dino", "clip_i", "clip_t"} and all(-1 <= v <= 1 for v in scores.values())
