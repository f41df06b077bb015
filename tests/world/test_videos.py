"""The video world: determinism, structure of events, queries, saliency, families and splits."""

import numpy as np
import pytest

from revis.world.videos import (
    ATTRIBUTES,
    COLOUR_WORDS,
    SHAPE_WORDS,
    Event,
    WorldConfig,
    content_key,
    generate_video_world,
    phrase_event,
    visibility_profile,
)

CONFIG = WorldConfig(seed=3, n_families=10, clips=(14, 20), segment_length=(3, 6))


@pytest.fixture(scope="module")
def world():
    return generate_video_world(CONFIG)


def test_deterministic_in_the_seed(world):
    again = generate_video_world(CONFIG)
    assert [q.query for q in again.split("train")] == [q.query for q in world.split("train")]
    vid = world.video_ids("train")[0]
    assert np.array_equal(again.frames(vid), world.frames(vid))
    other = generate_video_world(WorldConfig(seed=4, n_families=10, clips=(14, 20), segment_length=(3, 6)))
    assert [q.query for q in other.split("train")] != [q.query for q in world.split("train")]


def test_frames_and_labels_follow_the_segments(world):
    videos = world.world()["videos"]
    for split in world.splits:
        for query in world.split(split):
            video = videos[query.vid]
            frames = world.frames(query.vid)
            assert frames.dtype == np.uint8 and frames.shape == (query.num_clips(), 32, 32, 3)
            target = world.world()["queries"][str(query.qid)]["event"]
            clips = [c for c, info in enumerate(video["clips"]) if info["event"] == target]
            assert list(query.relevant_clip_ids) == clips  # every clip of the target's segments, nothing else
            assert sum(e - s for s, e in query.relevant_windows) == 2 * len(clips)  # windows cover them (2-s clips)
            scores = np.asarray(query.saliency_scores)
            assert scores.shape == (len(clips), 3) and scores.min() >= 0 and scores.max() <= 4
            # saliency follows visibility: the clearest clip outscores the faintest on average
            visibility = np.array([video["clips"][c]["visibility"] for c in clips])
            if visibility.max() - visibility.min() > 0.4:
                assert scores[visibility.argmax()].mean() > scores[visibility.argmin()].mean()


def test_queries_single_out_their_event(world):
    meta = world.world()
    for query in world.split("train"):
        info = meta["queries"][str(query.qid)]
        events = [Event(**e) for e in meta["videos"][query.vid]["events"]]
        target = events[info["event"]]
        named = info["named"]
        assert len(named) >= 2
        matching = [e for e in events if all(getattr(e, a) == getattr(target, a) for a in named)]
        assert matching == [target], query.query
        if "colour" in named:
            assert any(w in query.query for w in COLOUR_WORDS[target.colour])


def test_families_are_near_duplicates_within_one_split(world):
    videos = world.world()["videos"]
    by_family = {}
    for video in videos.values():
        by_family.setdefault(video["family"], []).append(video)
    assert any(len(members) > 1 for members in by_family.values())
    for members in by_family.values():
        assert len({m["split"] for m in members}) == 1
        base = members[0]
        for member in members[1:]:
            variant = member["variant"]
            if variant["what"] == "background":
                assert member["events"] == base["events"] and member["background"] != base["background"]
            else:
                changed = [
                    (i, a)
                    for i, (e, b) in enumerate(zip(member["events"], base["events"]))
                    for a in ATTRIBUTES
                    if e[a] != b[a]
                ]
                assert changed == [(variant["event"], variant["attribute"])]
            assert member["segments"] == base["segments"]


def test_phrases_name_exactly_the_given_attributes():
    rng = np.random.default_rng(0)
    for _ in range(50):
        text = phrase_event({"colour": "red", "shape": "ring"}, rng, count=3)
        assert any(w in text for w in COLOUR_WORDS["red"]) and any(p in text for _, p in SHAPE_WORDS["ring"])
        assert not any(w in text for w in ("one", "two", "three", "moving", "still", "striped", "plain"))
    texts = {phrase_event({"colour": "red", "shape": "ring", "motion": "left"}, rng) for _ in range(40)}
    assert len(texts) > 10  # synonyms and templates: the text side is not a lookup table


def test_visibility_is_a_smooth_bump():
    profile = visibility_profile(8, np.random.default_rng(1))
    assert profile.min() >= 0.15 and profile.max() <= 1.0
    assert np.abs(np.diff(profile)).max() < 0.5  # neighbouring clips are alike


def test_content_key_ignores_wording(world):
    video = next(iter(world.world()["videos"].values()))
    keys = {content_key(video, c) for c in range(len(video["clips"]))}
    events = {c["event"] for c in video["clips"]}
    assert len(keys) == len(events)  # one key per event, one for the empty background


def test_partial_texts_name_exactly_the_slots_they_require_and_fit_their_frame(world):
    from revis.retrieval.slots import parse_phrase
    from revis.vl.pairs import UNNAMED, fits, frame_text_pairs
    from revis.world.videos import BACKGROUNDS, VALUES

    plain = frame_text_pairs(world, "train")
    pairs = frame_text_pairs(world, "train", partial_texts=2)
    events = sum(
        1 for v in world.meta["videos"].values() if v["split"] == "train" for c in v["clips"] if c["event"] is not None
    )
    assert len(pairs) == len(plain) + 2 * events
    assert np.equal(
        fits(plain.frame_slots, plain.text_slots), np.equal(plain.keys, np.array(plain.keys)[:, None]).T
    ).all()
    partial = [i for i, code in enumerate(pairs.text_slots) if (code == UNNAMED).any()]
    assert len(partial) == 2 * events
    names = ("background", *ATTRIBUTES)
    tables = (BACKGROUNDS, *(VALUES[a] for a in ATTRIBUTES))
    for i in partial[:200]:
        said = parse_phrase(pairs.texts[i])
        required = {names[s]: tables[s][v] for s, v in enumerate(pairs.text_slots[i]) if v != UNNAMED}
        assert {k: v for k, v in said.items() if k in required or k != "count"} == required, pairs.texts[i]
    assert fits(pairs.frame_slots, pairs.text_slots).diagonal().all()  # a pair's text fits its own frame


def test_the_broad_vocabulary_extends_the_base_one_and_renders_its_extras(world):
    from revis.vl.pairs import slot_code
    from revis.world.videos import (
        BACKGROUNDS,
        EXTRA_BACKGROUNDS,
        EXTRA_COLOUR_WORDS,
        EXTRA_VALUES,
        VALUES,
        pretraining_world,
        shape_masks,
    )

    base_values = {(a, v) for a in ATTRIBUTES for v in VALUES[a]}
    seen = {(a, e[a]) for v in world.meta["videos"].values() for e in v["events"] for a in ATTRIBUTES}
    assert seen <= base_values and {v["background"] for v in world.meta["videos"].values()} <= set(BACKGROUNDS)
    broad = pretraining_world(seed=5, n_families=12, vocabulary="broad")
    assert broad.split("val") == [] and broad.split("test") == [] and broad.split("train")
    videos = list(broad.meta["videos"].values())
    extras = {(a, e[a]) for v in videos for e in v["events"] for a in EXTRA_VALUES if e[a] in EXTRA_VALUES[a]}
    assert extras and {v["background"] for v in videos} & set(EXTRA_BACKGROUNDS)
    worded = 0
    for video in videos:
        for clip in video["clips"]:
            event = None if clip["event"] is None else video["events"][clip["event"]]
            assert slot_code(video["background"], event)[0] < len(BACKGROUNDS) + len(EXTRA_BACKGROUNDS)
            if event is not None and event["colour"] in EXTRA_COLOUR_WORDS:
                assert any(w in clip["description"].lower() for w in EXTRA_COLOUR_WORDS[event["colour"]])
                worded += 1
    assert worded
    ring = {"count": 1, "colour": "blue", "texture": "plain", "shape": "ring", "motion": "up"}
    assert slot_code("snow", ring).tolist() == [3, 0, 2, 0, 4, 3]  # base values keep their base index
    diamond, bar = (shape_masks(s, 32, [16.0], [16.0], [5.0], [0.0])[0] for s in ("diamond", "bar"))
    assert diamond.sum() > 20 and bar.sum() > 10 and (diamond != bar).any()
