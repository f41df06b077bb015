"""The caption world: captions name what the scene holds, abstract words follow their rules, shards round-trip."""

import numpy as np
import pytest

from revis.datasets.webdataset import read_shard, write_shard
from revis.world.captions import (
    ABSTRACT_WORDS,
    COLOURS,
    OBJECT_NAMES,
    SHAPES,
    abstract_words_of,
    from_samples,
    generate_captions,
    split_codes,
    to_samples,
    with_negations,
)


@pytest.fixture(scope="module")
def split():
    return generate_captions(400, seed=3, size=16)


def test_captions_name_every_colour_shape_and_abstract_word(split):
    text = " ".join(split.captions)
    for word in [*COLOURS, *SHAPES, "striped", *ABSTRACT_WORDS]:
        assert word in text, word
    assert all("without" not in c and " no " not in c for c in split.captions)  # positive captions only


def test_abstract_words_are_used_exactly_when_their_rule_holds(split):
    for record in split.records:
        words = abstract_words_of(record.scene)
        assert record.abstract == words
        used = [w for w in ABSTRACT_WORDS if w in record.caption]
        assert set(used) <= set(words), record.caption  # never a word whose rule fails
        assert (record.form != "description") == bool(used)
        if record.form != "abstract":  # a description names every object's colour and shape
            for obj in record.objects:
                assert obj["colour"] in record.caption and obj["shape"] in record.caption
    assert {r.form for r in split.records} == {"description", "abstract+description", "abstract"}
    assert all(sum(w.rule(r.scene) for w in ABSTRACT_WORDS.values()) <= 1 for r in split.records)  # disjoint rules


def test_label_maps_hold_each_object_and_its_texture(split):
    for i in range(40):
        classes, stripes = split_codes(split.label_maps[i])
        names = {OBJECT_NAMES[c - 1] for c in np.unique(classes) if c > 0}
        assert names == {f"{o['colour']} {o['shape']}" for o in split.records[i].objects}
        assert stripes.any() == any(o["striped"] for o in split.records[i].objects)
    again = generate_captions(40, seed=3, size=16)
    assert np.array_equal(again.images, split.images[:40]) and again.captions == split.captions[:40]


def test_negations_name_only_absent_objects(split):
    negated = with_negations(split, 0.5, seed=0)
    changed = [r for r in negated.records if r.negated is not None]
    assert 0.4 < len(changed) / len(split) < 0.6
    for record in changed:
        assert record.negated not in {f"{o['colour']} {o['shape']}" for o in record.objects}
        assert record.negated in record.caption and ("without" in record.caption or "no " in record.caption)


def test_webdataset_shards_round_trip_byte_for_byte(split, tmp_path):
    part = type(split)(split.images[:20], split.records[:20], split.label_maps[:20])
    write_shard(tmp_path / "a.tar", to_samples(part))
    write_shard(tmp_path / "b.tar", to_samples(part))
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    back = from_samples(read_shard(tmp_path / "a.tar"))
    assert np.array_equal(back.images, part.images) and np.array_equal(back.label_maps, part.label_maps)
    assert back.captions == part.captions and back.records[3].objects == part.records[3].objects
    assert back.records[5].stated == part.records[5].stated


def test_a_real_shard_without_ground_truth_reads(tmp_path):
    rng = np.random.default_rng(0)
    samples = [
        {"__key__": f"{i:04d}", "jpg": rng.integers(0, 255, (12, 12, 3), dtype=np.uint8), "txt": f"photo {i}"}
        for i in range(3)
    ]
    write_shard(tmp_path / "real.tar", samples)
    back = from_samples(read_shard(tmp_path / "real.tar"))
    assert back.captions == ["photo 0", "photo 1", "photo 2"] and back.images.shape == (3, 12, 12, 3)
    assert back.label_maps is None and back.records[0].objects == []


def test_grid_world_places_objects_on_the_lattice_and_names_their_places():
    grid = generate_captions(200, seed=5, size=16, grid=3, radius=(0.17, 0.22))
    lattice = np.array([0.25, 0.5, 0.75])
    for record in grid.records:
        for obj in record.objects:
            for centre in (obj["cy"], obj["cx"]):
                off = np.abs(lattice - centre).min()
                assert off <= 0.02 + 1e-9 or min(centre, 1 - centre) == pytest.approx(obj["radius"])
    counts = grid.counts()
    assert set(counts.tolist()) == {1, 2, 3, 4}  # four objects still fit (on the corners)
    anywhere = generate_captions(200, seed=5, size=16, radius=(0.17, 0.22))
    stated = [sum(len((r.stated or {})["regions"]) for r in s.records) for s in (grid, anywhere)]
    assert stated[0] > 0.5 * len(grid)  # most captions place objects: the positions gate has trials
    # on the lattice a stated region is the exact quadrant / half: real scenes always agree with their caption
    from revis.world.fidelity import in_region

    for record in grid.records:
        for name, phrase in (record.stated or {})["regions"]:
            assert any(f"{o['colour']} {o['shape']}" == name and in_region(o, phrase) for o in record.objects)
