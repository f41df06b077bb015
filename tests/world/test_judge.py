"""The judge: its blob readout on hand-made maps, and a small trained judge on known images."""

import numpy as np
import pytest
import torch

from revis.world.captions import COLOURS, OBJECT_NAMES, SHAPES, CaptionRecord, generate_captions
from revis.world.fidelity import caption_fidelity, in_region, shuffled
from revis.world.judge import (
    Judge,
    Judgement,
    blob_precision,
    judge_accuracy,
    judge_images,
    judge_state,
    load_judge,
    train_judge,
)


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


class _Unsure(torch.nn.Module):
    """Classifier: blue square, sure of blue blobs and torn between the three shapes on the others."""

    def __init__(self, crop):
        super().__init__()
        self.crop = crop

    def forward(self, x):
        out = torch.full((x.shape[0], len(COLOURS) + len(SHAPES) + 1), -5.0)
        out[:, list(COLOURS).index("blue")] = 5
        centre = self.crop // 2
        sure = x[:, 2, centre, centre] > 0.6  # a blue blob
        out[:, len(COLOURS) + SHAPES.index("square")] = 5
        out[~sure, len(COLOURS) : len(COLOURS) + len(SHAPES)] = 0.0  # uniform over shapes: confidence ~1/3
        return out


def _two_blob_image():
    image = np.full((1, 16, 16, 3), 180, dtype=np.uint8)
    image[0, 2:5, 2:6] = (40, 70, 210)  # top left, 12 pixels
    image[0, 10:14, 11:15] = (30, 140, 62)  # bottom right, 16 pixels, green
    return image


def test_reject_option_drops_unsure_blobs_from_objects_and_count():
    judge = Judge(16, width=8, min_area=3)
    judge.segmenter = _Oracle()
    judge.classifier = _Unsure(judge.classifier.crop)
    image = _two_blob_image()
    everything = judge_images(judge, image)
    assert everything.count.tolist() == [2] and everything.rejected == [[]]
    confidences = sorted(o["confidence"] for o in everything.objects[0])
    assert confidences[0] < 0.4 < 0.99 < confidences[1]
    judge.min_confidence = 0.5
    strict = judge_images(judge, image)
    assert strict.count.tolist() == [1] and len(strict.rejected[0]) == 1
    assert strict.rejected[0][0]["confidence"] < 0.5
    assert load_judge(judge_state(Judge(16, width=8, min_confidence=0.5))).min_confidence == 0.5  # in the checkpoint


def test_blob_precision_scores_blobs_against_the_true_map():
    judge = Judge(16, width=8, min_area=3)
    judge.segmenter, judge.classifier = _Oracle(), _Unsure(judge.classifier.crop)
    image = _two_blob_image()
    truth = np.zeros((1, 16, 16), dtype=np.uint8)
    truth[0, 2:5, 2:6] = 1 + OBJECT_NAMES.index("blue square")  # the sure blob is right
    truth[0, 10:14, 11:15] = 1 + OBJECT_NAMES.index("red circle")  # the unsure one is wrong
    report = blob_precision(judge_images(judge, image, masks=True), truth, threshold=0.5)
    assert report["blobs"] == 2 and report["precision_without_reject"] == 0.5
    assert report["precision"] == 1.0 and report["rejected_share"] == 0.5
    truth[0, 2:5, 2:6] = 0  # background under a blob is a false object
    assert blob_precision(judge_images(judge, image, masks=True), truth, threshold=0.0)["precision"] == 0.0


def test_placement_asks_where_only_among_the_objects_drawn():
    # two captions placing a red circle on the left; image 0 draws it on the left, image 1 on the right,
    # image 2 draws no red circle at all (regions fails, placement has no trial)
    record = CaptionRecord(
        key="k",
        caption="a red circle on the left",
        objects=[{"colour": "red", "shape": "circle", "striped": False, "cy": 0.5, "cx": 0.25, "radius": 0.2}],
        abstract=[],
        negated=None,
        stated={"regions": [["red circle", "on the left"]], "relations": []},
    )
    circle = {"name": "red circle", "cy": 0.5, "area": 20, "striped": False}
    square = {"name": "blue square", "cy": 0.5, "cx": 0.25, "area": 20, "striped": False}
    judged = Judgement(
        present=np.zeros((3, 12), dtype=bool),
        count=np.array([1, 1, 1]),
        striped=np.zeros(3, dtype=bool),
        objects=[[{**circle, "cx": 0.25}], [{**circle, "cx": 0.75}], [square]],
    )
    counts = caption_fidelity(judged, [record] * 3)
    assert counts["regions"] == (1, 3)  # drawn and placed
    assert counts["placement"] == (1, 2)  # placed, among the two images that drew it
