"""whitebear's library: prompt kinds for every word and object, similarities, attention measures, intervals."""

import numpy as np
import pytest
import torch

from revis.negation.attention import attention_on_mask, attention_share, phrase_positions
from revis.negation.prompts import DEFENSES, KINDS, build_prompts
from revis.reporting.summary import proportion
from revis.reporting.verdicts import HOLDS, INCONCLUSIVE, evaluate_comparison, wilson
from revis.world.captions import ABSTRACT_WORDS, OBJECT_NAMES


def test_prompt_kinds_name_every_abstract_word_and_object():
    for word, meaning in ABSTRACT_WORDS.items():
        for obj in OBJECT_NAMES:
            prompts = build_prompts(word, obj, meaning.definition, "yellow circle")
            assert set(prompts) == set(KINDS) and set(DEFENSES) < set(KINDS)
            assert all(word in p.text for p in prompts.values())
            assert prompts["base"].text == f"a {word} scene" and obj not in prompts["base"].text
            assert prompts["attack"].text == f"a {word} scene without a {obj}"
            assert meaning.definition in prompts["define"].text and obj in prompts["define"].text
            assert "yellow circle" in prompts["alternative"].text and obj in prompts["alternative"].text
            negative = prompts["negative_prompt"]
            assert obj not in negative.text and negative.negative == f"a {obj}"
            assert all(p.negative is None for k, p in prompts.items() if k != "negative_prompt")
            # the controls: X asked for outright, and a negation that does not mention X
            assert prompts["with"].text == f"a {word} scene with a {obj}"
            assert prompts["other_negation"].text == f"a {word} scene without a yellow circle"
    custom = build_prompts("calm", "red circle", "x", "y", {"attack": "{word} minus {object}"})
    assert custom["attack"].text == "calm minus red circle"


def test_similarity_table_on_the_text_encoder():
    from revis.diffusion.text import TextEncoder
    from revis.negation.representations import similarity_table

    torch.set_num_threads(1)
    table = similarity_table(
        TextEncoder(), ["a calm scene", "a picture"], ["red circle", "blue square"], ["{scene} without a {object}"]
    )
    for key in ("pooled_with", "pooled_alone", "pooled_neutral", "token_same", "token_other", "token_context"):
        values = np.asarray(table[key])
        assert values.shape == (2, 2, 1) and np.all(values <= 1 + 1e-6) and np.all(values >= -1 - 1e-6)
    # identical template for "with" and "without": the negated sentence equals the affirmed one
    same = similarity_table(
        TextEncoder(), ["a picture", "a calm scene"], ["red circle", "blue square"], ["{scene} with a {object}"]
    )
    np.testing.assert_allclose(same["pooled_with"], 1.0, atol=1e-5)
    np.testing.assert_allclose(same["token_same"], 1.0, atol=1e-5)
    # the neutral edit equal to the affirmed template: the control's similarity is 1, whatever the negation
    neutral = similarity_table(
        TextEncoder(),
        ["a picture", "a calm scene"],
        ["red circle"],
        ["{scene} without a {object}"],
        neutral="{scene} with a {object}",
    )
    np.testing.assert_allclose(neutral["pooled_neutral"], 1.0, atol=1e-5)
    assert np.all(neutral["pooled_with"] < 1 - 1e-4)


def test_attention_share_and_density_on_the_drawn_object():
    maps = torch.zeros(2, 3, 4, 4)  # B, L tokens, H, W; each pixel's attention sums to 1
    maps[:, 0] = 0.5
    maps[:, 1] = 0.5
    maps[0, 1, :2, :2], maps[0, 2, :2, :2] = 0.0, 0.5  # token 2 read only in the top-left quarter of image 0
    maps[0, 1, 2:, 2:], maps[0, 2, 2:, 2:] = 0.0, 0.5  # ... and in the bottom-right quarter
    assert np.allclose(maps.sum(1).numpy(), 1.0)
    np.testing.assert_allclose(attention_share(maps, [2]), [0.25, 0.0])
    np.testing.assert_allclose(attention_share(maps, [1, 2]), [0.5, 0.5])
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, :2, :2] = True  # the object is drawn in one of the two places token 2 is read: 0.5 / 0.25 = 2
    ratio = attention_on_mask(maps, [2], masks)
    assert ratio[0] == pytest.approx(2.0) and np.isnan(ratio[1])  # no object drawn in image 1
    assert phrase_positions([101, 7, 8, 9, 7, 8, 102], [7, 8]) == [4, 5] and phrase_positions([1, 2], [3]) == []


def test_intervals_and_count_tests_on_hand_computed_cases():
    # Wilson 95 %: 0/10 -> [0, 0.2775]; 5/10 -> [0.2366, 0.7634]
    assert wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    assert proportion(3, 4) == {"rate": 0.75, "successes": 3, "trials": 4, "ci95": list(wilson(3, 4))}
    # Fisher exact, one-sided: 9/10 vs 1/10 -> p = 0.000546 (hypergeometric tail)
    verdict = evaluate_comparison(proportion(9, 10), proportion(1, 10), test="fisher", direction="greater")
    assert (
        verdict.verdict == HOLDS
        and verdict.p == pytest.approx(0.000546, abs=2e-5)
        and verdict.effect == pytest.approx(0.8)
    )
    close = evaluate_comparison(proportion(5, 10), proportion(4, 10), test="fisher", direction="greater")
    assert close.verdict == INCONCLUSIVE
