"""The QVHighlights evaluation on hand-made cases whose values are computed by hand (in the comments)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from revis.highlights.evaluation import (
    SubmissionError,
    average_precision,
    average_precisions,
    detection_ap,
    eval_submission,
    official_rounding,
    per_query_highlight,
    saliency_matrix,
)


def _sklearn_reference_ap(y_true, y_score):
    """The official get_ap written out with scikit-learn: interpolated precision, mean over recall levels."""
    from sklearn.metrics import precision_recall_curve

    if len(set(y_true)) == 1:
        return 0.0 if y_true[0] == 0 else 1.0
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    recall = recall.astype(np.float32)
    for i in range(1, len(precision)):
        precision[i] = max(precision[i - 1], precision[i])
    return float(np.mean(precision[np.where(np.diff(recall))]))


def test_average_precision_by_hand():
    # ranking P N P N: precision 1 at recall 1/2, 2/3 at recall 1 -> (1 + 2/3) / 2
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # a tie between a positive and a negative at the top: the tie is one point (p 1/2, r 1/2), then
    # (p 2/3, r 1); interpolation lifts the first to 2/3 -> mean 2/3 (sklearn's AP would say 0.583)
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(2 / 3)
    # two tied positives first (p 1, r 2/3), a negative, then the last positive (p 3/4, r 1):
    # every distinct recall level counts once -> (1 + 3/4) / 2 = 0.875 (recall-weighted would be 0.917)
    assert average_precision([1, 1, 0, 1], [0.9, 0.9, 0.5, 0.1]) == pytest.approx(0.875)
    # degenerate columns, as the official get_ap: no positive -> 0, only positives -> 1
    assert average_precision([0, 0, 0], [0.3, 0.2, 0.1]) == 0.0
    assert average_precision([1, 1], [0.3, 0.2]) == 1.0
    # constant scores: one point, precision = share of positives
    assert average_precision([0, 1, 0, 0], [1.0, 1.0, 1.0, 1.0]) == pytest.approx(0.25)


def test_average_precision_equals_the_scikit_learn_formulation_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(2, 40))
        truth = (rng.random((n, 4)) < rng.uniform(0.05, 0.7)).astype(int)
        truth[:, 3] = truth[0, 3]  # a constant column among them
        score = rng.integers(0, 5, n) / 4.0 if rng.random() < 0.5 else rng.normal(size=n)
        expected = [_sklearn_reference_ap(truth[:, c], score) for c in range(4)]
        assert average_precisions(truth, score) == pytest.approx(expected, abs=1e-12)  # all columns at once
        assert average_precision(truth[:, 0], score) == pytest.approx(expected[0], abs=1e-12)


def _ground_truth():
    return [
        # 4 clips; annotators' scores at clips 1 and 2
        {
            "qid": 1,
            "query": "a",
            "vid": "v1_0.0_8.0",
            "duration": 8,
            "relevant_windows": [[2, 6]],
            "relevant_clip_ids": [1, 2],
            "saliency_scores": [[4, 2, 3], [1, 4, 4]],
        },
        # 3 clips; only clip 0 relevant, scores 2, 2, 1
        {
            "qid": 2,
            "query": "b",
            "vid": "v2_0.0_6.0",
            "duration": 6,
            "relevant_windows": [[0, 2]],
            "relevant_clip_ids": [0],
            "saliency_scores": [[2, 2, 1]],
        },
    ]


def test_saliency_matrix_zeros_outside_relevant_clips():
    matrix = saliency_matrix(_ground_truth()[0])
    assert matrix.tolist() == [[0, 0, 0], [4, 2, 3], [1, 4, 4], [0, 0, 0]]


def test_highlight_metrics_by_hand():
    submission = [
        {"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5, 0.3]},  # top clip 1
        {"qid": 2, "pred_saliency_scores": [0.2, 0.2, 0.7]},  # top clip 2: not relevant
    ]
    result = eval_submission(submission, _ground_truth())
    # query 1 -- VeryGood columns [0,1,0,0] [0,0,1,0] [0,0,1,0]: AP 1, 1/2, 1/2; Fair: all 1;
    #            Good columns [0,1,0,0] [0,0,1,0] [0,1,1,0]: 1, 1/2, 1
    # query 2 -- Fair columns [1,0,0] [1,0,0] [0,0,0]: the positive ties with a negative after the top
    #            negative -> p 1/3 at r 1 -> AP 1/3, 1/3, and 0 for the empty column; Good, VeryGood: 0
    assert result["HL-min-Fair"]["HL-mAP"] == pytest.approx(100 * (3 + 2 / 3) / 6)
    assert result["HL-min-Good"]["HL-mAP"] == pytest.approx(100 * 2.5 / 6)
    assert result["HL-min-VeryGood"]["HL-mAP"] == pytest.approx(100 * 2 / 6)
    # HIT@1: query 1's top clip is positive for some annotator at every level, query 2's never
    for level in ("Fair", "Good", "VeryGood"):
        assert result[f"HL-min-{level}"]["HL-Hit1"] == pytest.approx(50.0)
    assert result["brief"]["HL-min-VeryGood-mAP"] == pytest.approx(100 / 3)
    assert official_rounding(result)["brief"]["HL-min-VeryGood-mAP"] == 33.33
    per_query = per_query_highlight(submission, _ground_truth(), "VeryGood")
    assert per_query[1] == {"ap": pytest.approx(2 / 3), "hit1": 1.0} and per_query[2]["ap"] == 0.0


def test_hit1_takes_the_first_clip_on_ties():
    gt = [_ground_truth()[0]]
    # clips 0 and 1 tie at the top: argmax -> clip 0, not relevant -> miss
    tie_first_wrong = eval_submission([{"qid": 1, "pred_saliency_scores": [0.9, 0.9, 0.1, 0.1]}], gt)
    assert tie_first_wrong["HL-min-Fair"]["HL-Hit1"] == 0.0
    tie_first_right = eval_submission([{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.9, 0.1]}], gt)
    assert tie_first_right["HL-min-VeryGood"]["HL-Hit1"] == 100.0


def test_all_zero_saliency_scores_count_as_ap_zero():
    gt = [dict(_ground_truth()[1], saliency_scores=[[0, 0, 0]])]
    result = eval_submission([{"qid": 2, "pred_saliency_scores": [0.9, 0.1, 0.1]}], gt)
    for level in ("Fair", "Good", "VeryGood"):
        assert result[f"HL-min-{level}"] == {"HL-mAP": 0.0, "HL-Hit1": 0.0}


def test_missing_and_extra_clips_are_accepted_by_default_and_fail_under_a_strict_tolerance():
    gt = [_ground_truth()[0]]
    with pytest.raises(SubmissionError, match=r"qid 1: 3 saliency scores for a video of 4 clips"):
        eval_submission([{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5]}], gt, length_tolerance=0)
    # the default is the official script's: any length, padded or truncated
    default = eval_submission([{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5]}], gt)
    assert default["HL-min-VeryGood"]["HL-mAP"] == pytest.approx(100 * 2 / 3)
    # one clip short, tolerated: padded with 0 for the AP -> same ranking as [0.1, 0.9, 0.5, 0.0]
    short = eval_submission([{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5]}], gt, length_tolerance=1)
    assert short["HL-min-VeryGood"]["HL-mAP"] == pytest.approx(100 * 2 / 3)
    # one clip too many whose score is the highest: truncated for the AP, but HIT@1's argmax falls
    # beyond the video and misses (the official script's behaviour)
    long = eval_submission([{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5, 0.3, 5.0]}], gt, length_tolerance=1)
    assert long["HL-min-VeryGood"]["HL-mAP"] == pytest.approx(100 * 2 / 3)
    assert long["HL-min-VeryGood"]["HL-Hit1"] == 0.0


def test_submission_errors_name_the_problem():
    gt = _ground_truth()
    with pytest.raises(SubmissionError, match=r"1 qids have no prediction \(e.g. \[2\]\)"):
        eval_submission([{"qid": 1, "pred_saliency_scores": [0, 1, 0, 0]}], gt)
    # the official escape hatch: score the shared qids only
    shared = eval_submission([{"qid": 1, "pred_saliency_scores": [0, 1, 0, 0]}], gt, match_number=False)
    assert shared["HL-min-Fair"]["HL-Hit1"] == 100.0
    with pytest.raises(SubmissionError, match="not in the ground truth"):
        eval_submission([{"qid": q, "pred_saliency_scores": [0] * n} for q, n in ((1, 4), (2, 3), (9, 3))], gt)
    with pytest.raises(SubmissionError, match="duplicate qids"):
        eval_submission([{"qid": 1, "pred_saliency_scores": [0] * 4}] * 2, gt[:1])
    with pytest.raises(SubmissionError, match="NaN"):
        eval_submission([{"qid": 1, "pred_saliency_scores": [0, float("nan"), 0, 0]}], gt[:1])
    with pytest.raises(SubmissionError, match="neither"):
        eval_submission([{"qid": 1}], gt[:1])
    with pytest.raises(SubmissionError, match="outside the video's 4 clips"):
        bad = dict(gt[0], relevant_clip_ids=[1, 4])
        eval_submission([{"qid": 1, "pred_saliency_scores": [0] * 4}], [bad])
    with pytest.raises(SubmissionError, match="ends before it starts"):
        eval_submission([{"qid": 1, "pred_relevant_windows": [[6, 2, 1.0]]}], gt[:1])


def test_moment_retrieval_by_hand():
    gt = [
        {
            "qid": 1,
            "query": "a",
            "vid": "v_0.0_60.0",
            "duration": 60,
            "relevant_windows": [[10, 20]],
            "relevant_clip_ids": [5],
            "saliency_scores": [[1, 1, 1]],
        }
    ]
    # IoUs with [10, 20]: [12, 20] -> 0.8, [0, 8] -> 0, [10, 22] -> 10/12 = 0.833
    windows = [[12, 20, 0.9], [0, 8, 0.8], [10, 22, 0.7]]
    result = eval_submission([{"qid": 1, "pred_relevant_windows": windows}], gt)
    full = result["full"]
    # R1: the first window (IoU 0.8) clears 0.5 and 0.7, not 0.85
    assert full["MR-R1"]["0.5"] == 100.0 and full["MR-R1"]["0.7"] == 100.0 and full["MR-R1"]["0.85"] == 0.0
    # AP: the top-scored window matches at t <= 0.8 (AP 1); at 0.85+ no window matches before the
    # ground truth is taken ([10, 22] reaches only 0.833) -> 7 of 10 thresholds -> 70
    assert full["MR-mAP"]["average"] == pytest.approx(70.0)
    assert result["brief"]["MR-full-R1@0.7"] == 100.0 and result["short"]["MR-mAP"]["average"] == pytest.approx(70.0)
    assert result["middle"] == {"MR-mAP": None, "MR-R1": None}


def test_detection_ap_matches_each_ground_truth_once():
    gt = np.array([[0, 10], [20, 30]])
    # by score: [20,30] hits gt 2, [0,10] hits gt 1, the duplicate [0,10] is a false positive:
    # precision 1, 1, 2/3 at recall 1/2, 1, 1 -> AP 1
    assert detection_ap(gt, np.array([[0, 10, 0.5], [20, 30, 0.9], [0, 10, 0.4]])).tolist() == [1.0] * 10
    # the duplicate scored first: FP? no -- it takes gt 1 first; the second copy is then the FP:
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> interpolated AP = 1/2 * 1 + 1/2 * 2/3
    ap = detection_ap(gt, np.array([[0, 10, 0.9], [0, 10, 0.8], [20, 30, 0.7]]))
    assert ap[0] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_command_line_like_the_official_script(tmp_path, capsys):
    import json

    from revis.highlights.evaluation import main

    gt, preds = tmp_path / "gt.jsonl", tmp_path / "preds.jsonl"
    gt.write_text("".join(json.dumps(line) + "\n" for line in _ground_truth()))
    preds.write_text(json.dumps({"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.5, 0.3]}) + "\n")
    assert main(["--submission_path", str(preds), "--gt_path", str(gt)]) == 2  # qid 2 has no prediction
    assert "1 qids have no prediction" in capsys.readouterr().out
    save = tmp_path / "metrics.json"
    assert (
        main(["--submission_path", str(preds), "--gt_path", str(gt), "--save_path", str(save), "--not_match_number"])
        == 0
    )
    assert json.loads(save.read_text())["brief"]["HL-min-VeryGood-mAP"] == 66.67


def _shared_qvh_folder() -> Path:
    """../shared/data/qvhighlights beside the checkout (or $REVIS_SHARED_DATA/qvhighlights); skip when absent."""
    roots = [Path(os.environ["REVIS_SHARED_DATA"])] if os.environ.get("REVIS_SHARED_DATA") else []
    roots += [parent / "shared" / "data" for parent in Path(__file__).resolve().parents[2].parents]
    for root in roots:
        if (root / "qvhighlights" / "sample_val_preds.jsonl").is_file():
            return root / "qvhighlights"
    pytest.skip("the official QVHighlights sample (../shared/data/qvhighlights/) is not on this machine")


def test_official_sample_predictions_score_as_the_official_script_with_default_settings():
    folder = _shared_qvh_folder()
    from revis.datasets.qvhighlights import read_jsonl

    lines = (folder / "sample_val_preds.jsonl").read_text().splitlines()
    submission = [json.loads(line) for line in lines if line.strip()]
    expected = json.loads((folder / "sample_val_preds_metrics_raw.json").read_text())
    truth = read_jsonl(folder / "highlight_val_release.jsonl")
    # 13 predictions are one clip short: the official script pads them, so must the default
    clips = {q.qid: int(q.duration / 2) for q in truth}
    assert sum(len(d["pred_saliency_scores"]) != clips[d["qid"]] for d in submission) > 0
    results = official_rounding(eval_submission(submission, truth))

    def leaves(tree, prefix=()):
        if isinstance(tree, dict):
            for key, value in tree.items():
                yield from leaves(value, (*prefix, key))
        else:
            yield prefix, tree

    expected_leaves, got_leaves = dict(leaves(expected)), dict(leaves(results))
    assert len(expected_leaves) >= 100
    assert {k: got_leaves.get(k) for k in expected_leaves} == expected_leaves
