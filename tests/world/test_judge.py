"""The judge: its blob readout on hand-made maps, and a small trained judge on known images."""

import numpy as np
import pytest
import torch

from revis.world.captions import COLOURS, OBJECT_NAMES, SHAPES, generate_captions
from revis.world.fidelity import caption_fidelity, in_region, shuffled
from revis.world.judge import Judge, judge_accuracy, judge_images, judge_state, load_judge, train_judge


class _Oracle(torch.nn.Module):
    """Segmenter: foreground where the image is not background grey."""

    def forward(self, x):
        return ((x - x[:, :, :1, :1]).abs().sum(1) > 0.2).float() * 20 - 10


class _Fixed(torch.nn.Module):
    """Classifier: always blue, square, striped."""

    def __init__(self, crop):
        super().__init__()
        self.crop = crop

    def forward(self, x):
        out = torch.full((x.shape[0], len(COLOURS) + len(SHAPES) + 1), -5.0)
        out[:, list(COLOURS).index("blue")] = 5
        out[:, len(COLOURS) + SHAPES.index("square")] = 5
        out[:, -1] = 5
        return out


def test_readout_counts_blobs_places_them_and_drops_specks():
    judge = Judge(16, width=8, min_area=3)
    judge.segmenter, judge.classifier = _Oracle(), _Fixed(judge.classifier.crop)
    image = np.full((1, 16, 16, 3), 180, dtype=np.uint8)
    image[0, 2:5, 2:6] = (40, 70, 210)  # a 12-pixel blob, top left
    image[0, 10:14, 11:15] = (40, 70, 210)  # a 16-pixel blob, bottom right
    image[0, 8, 0] = (40, 70, 210)  # a 1-pixel speck: below min_area
    judged = judge_images(judge, image)
    assert judged.count.tolist() == [2] and judged.striped.tolist() == [True]
    assert judged.present[0].tolist() == [name == "blue square" for name in OBJECT_NAMES]
    top, bottom = sorted(judged.objects[0], key=lambda o: o["cy"])
    assert (top["cy"], top["cx"]) == pytest.approx((3.5 / 16, 4 / 16)) and top["area"] == 12  # pixel centres
    assert in_region(top, "in the top left corner") and in_region(bottom, "on the right")


@pytest.fixture(scope="module")
def small_judge():
    torch.set_num_threads(1)
    world = generate_captions(300, seed=11, size=16)
    judge, history = train_judge(world.images, world.label_maps, width=24, epochs=3, batch_size=16, lr=1e-2, seed=0)
    assert history["classifier"][-1] < history["classifier"][0]
    return judge


def test_small_judge_reads_known_held_out_scenes(small_judge):
    test = generate_captions(120, seed=12, size=16)
    acc = judge_accuracy(judge_images(small_judge, test.images), test.labels(), test.counts(), test.striped())
    # a judge trained for one second: the pipeline's (3000 scenes, 10 epochs) reads 97 % of object sets exactly
    assert acc["label_accuracy"] > 0.88 and acc["count_accuracy"] > 0.7 and acc["striped_accuracy"] > 0.9
    # fidelity of real scenes to their own captions beats shuffled captions by far
    judged = judge_images(small_judge, test.images)
    own, other = caption_fidelity(judged, test.records), caption_fidelity(judged, shuffled(test.records, 0))
    assert own["colours"][0] / own["colours"][1] > other["colours"][0] / other["colours"][1] + 0.2


def test_judge_checkpoint_round_trips(small_judge):
    images = generate_captions(8, seed=13, size=16).images
    again = load_judge(judge_state(small_judge))
    assert np.array_equal(judge_images(again, images).present, judge_images(small_judge, images).present)
