import pytest

from revis.datasets.boxes import BoxError, BoxReport, check_box


def test_inside_boxes_pass_unchanged_and_are_counted():
    report = BoxReport()
    assert check_box((10, 20, 30, 40), 128, 128, where="a.xml, object 0", report=report) == (10, 20, 30, 40)
    assert report.boxes == 1 and report.clipped == 0


def test_small_overruns_are_clipped_and_reported():
    report = BoxReport()
    assert check_box((-3, 5, 131, 128), 128, 128, where="a.xml, object 1", report=report) == (0, 5, 128, 128)
    assert report.clipped == 1 and "a.xml, object 1" in report.clipped_examples[0]


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((200, 210, 240, 250), "entirely outside"),  # the example: would become YOLO label 1.277 ...
        ((30, 30, 30, 40), "non-positive size"),
        ((40, 30, 30, 50), "non-positive size"),
        ((0, 0, 300, 100), "overruns"),
    ],
)
def test_impossible_boxes_name_the_file_and_object(box, message):
    with pytest.raises(BoxError, match=rf"b.xml, object 3 \(dog\).*{message}"):
        check_box(box, 128, 128, where="b.xml, object 3 (dog)")


def test_a_box_at_the_origin_is_fine():
    assert check_box((0, 0, 5, 5), 10, 10, where="x") == (0, 0, 5, 5)


def test_the_bound_is_a_share_of_the_side_along_each_axis():
    # 30 px past the right border of a 2048 x 96 image: within 2 % of the width (40.96 px)
    assert check_box((2000, 10, 2078, 50), 2048, 96, where="w", max_overrun_fraction=0.02) == (2000, 10, 2048, 50)
    # the same 30 px past the bottom: 2 % of the height is 1.92 px, so the 8-px floor applies and refuses it
    with pytest.raises(BoxError, match="more than 8 px"):
        check_box((10, 60, 50, 126), 2048, 96, where="h", max_overrun_fraction=0.02)
    with pytest.raises(BoxError, match="more than 8 px"):
        check_box((2000, 10, 2078, 50), 2048, 96, where="w")  # no share: the fixed 8 px (the VOC readers)
