"""The QVHighlights evaluation, as the official script defines it.

Reference: ``standalone_eval/eval.py`` and ``standalone_eval/utils.py`` of jayleicn/moment_detr
(the script the QVHighlights leaderboard runs). This is our own implementation of the same
definitions, checked against them on hand-made cases (tests/highlights/test_evaluation.py):

Highlight detection (``pred_saliency_scores``: one score per 2-s clip)
  - Ground truth per query: a (clips x annotators) matrix, ``int(duration / clip_length)``
    rows, the annotators' 0-4 scores at ``relevant_clip_ids`` and 0 elsewhere.
  - Binarised at a minimum score: Fair >= 2, Good >= 3, VeryGood >= 4.
  - mAP: the average precision of the predicted scores against each annotator's column,
    averaged over annotators and queries (x 100). The AP is the official ``get_ap``:
    scikit-learn's precision-recall curve, precision made monotone (running maximum from the
    lowest threshold up), then the *mean* of that precision at every distinct recall level.
    An annotator column with no positive clip has AP 0 (counted in the mean); a column with
    only positives has AP 1. Predictions shorter than the ground truth are padded with 0,
    longer ones truncated, before the AP (as the official script does).
  - HIT@1: the clip with the highest predicted score (``argmax``: the first one on ties) is a
    hit if *any* annotator's binary label there is 1; a clip beyond the ground truth is a miss.
Moment retrieval (``pred_relevant_windows``: ``[start, end, score]`` in seconds)
  - R1@t: the *first* predicted window (the list's order, as submitted) against the ground-truth
    window it overlaps most, IoU >= t, averaged over queries (x 100).
  - mAP@t: per query, detection AP of up to 10 predicted windows (sorted by score) against
    all ground-truth windows at temporal IoU t (greedy matching, VOC-2011 interpolated AP),
    averaged over queries; ``average`` is the mean over t = 0.50, 0.55, ..., 0.95.
  - Also per ground-truth window length: short (0, 10], middle (10, 30], long (30, 150] s.

Unlike the official script, which asserts or silently pads, the inputs are validated first
(``validate_submission``): missing, extra or duplicate qids, saliency lists of the wrong
length (only when a ``length_tolerance`` is given: by default any length is accepted and padded or
truncated, as the official script does), non-finite scores and malformed windows raise
``SubmissionError`` naming the query. Metric values are returned unrounded, in percent;
``official_rounding`` rounds them to two decimals as the script prints them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from revis.datasets.qvhighlights import SubmissionError, field_of, num_clips, read_jsonl, saliency_matrix

SALIENCY_LEVELS: dict[str, int] = {"Fair": 2, "Good": 3, "VeryGood": 4}
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
LENGTH_RANGES: dict[str, tuple[float, float]] = {
    "short": (0.0, 10.0),
    "middle": (10.0, 30.0),
    "long": (30.0, 150.0),
    "full": (0.0, 150.0),
}
MAX_PRED_WINDOWS = 10


# --------------------------------------------------------------------------- validation


def _check_scores(qid: Any, scores: Any, clips: int, tolerance: int | None) -> np.ndarray:
    try:
        array = np.asarray(scores, dtype=float)
    except (TypeError, ValueError):
        raise SubmissionError(f"qid {qid}: pred_saliency_scores must be a list of numbers") from None
    if array.ndim != 1 or array.size == 0:
        raise SubmissionError(f"qid {qid}: pred_saliency_scores must be a non-empty flat list, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise SubmissionError(f"qid {qid}: pred_saliency_scores holds NaN or infinite values")
    if tolerance is not None and abs(array.size - clips) > tolerance:
        raise SubmissionError(
            f"qid {qid}: {array.size} saliency scores for a video of {clips} clips "
            f"(allowed difference {tolerance}; the official script pads or truncates silently)"
        )
    return array


def _check_windows(qid: Any, windows: Any) -> np.ndarray:
    try:
        array = np.asarray(windows, dtype=float)
    except (TypeError, ValueError):
        raise SubmissionError(f"qid {qid}: pred_relevant_windows must be a list of [start, end, score]") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != 3:
        raise SubmissionError(
            f"qid {qid}: pred_relevant_windows must be a non-empty list of [start, end, score], got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise SubmissionError(f"qid {qid}: pred_relevant_windows holds NaN or infinite values")
    if (array[:, 1] < array[:, 0]).any():
        raise SubmissionError(f"qid {qid}: a predicted window ends before it starts")
    return array


def _duplicates(qids: Iterable[Any]) -> list[Any]:
    return sorted((q for q, n in Counter(qids).items() if n > 1), key=str)


def _shared_qids(submission: Sequence[Mapping[str, Any]], ground_truth: Sequence[Any], match_number: bool) -> set[Any]:
    """The qids both hold; each side's qids present and unique, and (``match_number``) the same sets."""
    if not submission:
        raise SubmissionError("the submission holds no predictions")
    qids = [d.get("qid") if isinstance(d, Mapping) else None for d in submission]
    if any(q is None for q in qids):
        raise SubmissionError("every prediction needs a 'qid'")
    duplicates = _duplicates(qids)
    if duplicates:
        raise SubmissionError(f"duplicate qids in the submission: {duplicates[:10]}")
    truth_qids = [field_of(r, "qid") for r in ground_truth]
    truth_duplicates = _duplicates(truth_qids)
    if truth_duplicates:
        raise SubmissionError(f"duplicate qids in the ground truth: {truth_duplicates[:10]}")
    predicted, truth = set(qids), set(truth_qids)
    if match_number and predicted != truth:
        missing, extra = sorted(truth - predicted, key=str), sorted(predicted - truth, key=str)
        parts = []
        if missing:
            parts.append(f"{len(missing)} qids have no prediction (e.g. {missing[:10]})")
        if extra:
            parts.append(f"{len(extra)} predicted qids are not in the ground truth (e.g. {extra[:10]})")
        raise SubmissionError("; ".join(parts) + " (use match_number=False to score the shared qids only)")
    shared = predicted & truth
    if not shared:
        raise SubmissionError("no qid is shared by the submission and the ground truth")
    return shared


def _check_kinds(submission: Sequence[Mapping[str, Any]]) -> None:
    """Saliency scores and/or windows, each in every prediction or in none."""
    has_saliency = ["pred_saliency_scores" in d for d in submission]
    has_windows = ["pred_relevant_windows" in d for d in submission]
    if not any(has_saliency) and not any(has_windows):
        raise SubmissionError("predictions carry neither pred_saliency_scores nor pred_relevant_windows")
    for flags, key in ((has_saliency, "pred_saliency_scores"), (has_windows, "pred_relevant_windows")):
        if any(flags) and not all(flags):
            lacking = [d["qid"] for d, f in zip(submission, flags) if not f]
            raise SubmissionError(f"{len(lacking)} predictions lack {key} (e.g. qids {lacking[:10]})")


def validate_submission(
    submission: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Any],
    clip_length: float = 2.0,
    length_tolerance: int | None = None,
    match_number: bool = True,
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Check predictions against the ground truth; return both restricted to the shared qids.

    ``match_number`` (as in the official script): the qid sets must be equal; otherwise only
    the shared qids are kept. ``length_tolerance``: None (default, the official behaviour) accepts
    saliency lists of any length (padded with 0 or truncated when scored); an integer bounds the
    difference from the video's clip count (0: exact).
    """
    shared = _shared_qids(submission, ground_truth, match_number)
    checked = [dict(d) for d in submission if d["qid"] in shared]
    truth = [r for r in ground_truth if field_of(r, "qid") in shared]
    _check_kinds(checked)
    by_qid = {field_of(r, "qid"): r for r in truth}
    for d in checked:
        record = by_qid[d["qid"]]
        if "pred_saliency_scores" in d:
            clips = num_clips(float(field_of(record, "duration")), clip_length)
            d["pred_saliency_scores"] = _check_scores(d["qid"], d["pred_saliency_scores"], clips, length_tolerance)
        if "pred_relevant_windows" in d:
            d["pred_relevant_windows"] = _check_windows(d["qid"], d["pred_relevant_windows"])
            if not list(field_of(record, "relevant_windows") or []):
                raise SubmissionError(f"qid {d['qid']}: the ground truth has no relevant_windows to retrieve")
    return checked, truth


# --------------------------------------------------------------------------- highlight detection


def average_precisions(y_true: np.ndarray, y_score: Sequence[float] | np.ndarray) -> np.ndarray:
    """The official ``get_ap`` of one score list against each 0/1 column of ``y_true`` (T, C): (C,) in [0, 1].

    Per column, equal to: ``precision, recall, _ = sklearn.metrics.precision_recall_curve(y, score)``;
    running maximum of precision from index 0; mean of precision where recall changes. A column
    without positives has AP 0, a column of positives only AP 1 (as ``get_ap``).
    """
    truth = np.asarray(y_true, dtype=float)
    truth = truth[:, None] if truth.ndim == 1 else truth
    score = np.asarray(y_score, dtype=float)
    if truth.ndim != 2 or score.ndim != 1 or truth.shape[0] != score.shape[0]:
        raise ValueError(f"labels (T, C) and scores (T,) must agree, got {truth.shape} and {score.shape}")
    if ((truth != 0) & (truth != 1)).any():
        raise ValueError(f"labels must be 0/1, got values {sorted(set(truth.ravel().tolist()))}")
    positives = truth.sum(0)
    out = np.where(positives == truth.shape[0], 1.0, 0.0)  # constant columns: all 1 -> 1, all 0 -> 0
    mixed = (positives > 0) & (positives < truth.shape[0])
    if not mixed.any():
        return out
    # scikit-learn's binary curve: scores in decreasing order, one point per distinct score
    order = np.argsort(score, kind="mergesort")[::-1]
    sorted_score, sorted_truth = score[order], truth[order][:, mixed]
    last_of_tie = np.append(np.flatnonzero(np.diff(sorted_score)), score.size - 1)
    tps = np.cumsum(sorted_truth, axis=0)[last_of_tie]
    fps = 1 + last_of_tie[:, None] - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    # precision_recall_curve's order: lowest threshold first, then the (precision 1, recall 0) end point
    ones = np.ones((1, precision.shape[1]))
    precision = np.maximum.accumulate(np.concatenate([precision[::-1], ones]), axis=0)
    recall = np.concatenate([recall[::-1], 0 * ones]).astype(np.float32)
    changes = np.diff(recall, axis=0) != 0
    out[mixed] = (precision[:-1] * changes).sum(0) / changes.sum(0)
    return out


def average_precision(y_true: Sequence[float], y_score: Sequence[float]) -> float:
    """The official ``get_ap`` (interpolated, every distinct recall level weighted equally), in [0, 1]."""
    return float(average_precisions(np.asarray(y_true, dtype=float), y_score)[0])


def _fit_length(scores: np.ndarray, clips: int) -> np.ndarray:
    """Truncate or zero-pad predicted scores to the ground truth's clip count (official behaviour)."""
    if scores.size >= clips:
        return scores[:clips]
    return np.concatenate([scores, np.zeros(clips - scores.size)])


def query_highlight_levels(truth: np.ndarray, scores: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    """One query at every level: ``{level: (AP per annotator in [0, 1], HIT@1 0 or 1)}``."""
    scores = np.asarray(scores, dtype=float)
    fitted = _fit_length(scores, truth.shape[0])
    levels = list(SALIENCY_LEVELS.items())
    binary = np.concatenate([(truth >= minimum).astype(float) for _, minimum in levels], axis=1)
    aps = average_precisions(binary, fitted).reshape(len(levels), truth.shape[1])
    top = int(np.argmax(scores))
    out = {}
    for i, (name, minimum) in enumerate(levels):
        hit = float((truth[top] >= minimum).any()) if top < truth.shape[0] else 0.0
        out[name] = (aps[i], hit)
    return out


def query_highlight_scores(truth: np.ndarray, scores: np.ndarray, min_score: int) -> tuple[np.ndarray, float]:
    """One query at one level: AP per annotator column (in [0, 1]) and HIT@1 (0 or 1)."""
    name = next(n for n, m in SALIENCY_LEVELS.items() if m == min_score)
    return query_highlight_levels(truth, scores)[name]


def eval_highlight(
    submission: Sequence[Mapping[str, Any]], ground_truth: Sequence[Any], clip_length: float = 2.0
) -> dict[str, dict[str, float]]:
    """``{"HL-min-Fair": {"HL-mAP", "HL-Hit1"}, ...}`` in percent (inputs already validated)."""
    truth = {field_of(r, "qid"): saliency_matrix(r, clip_length) for r in ground_truth}
    per_query = [query_highlight_levels(truth[d["qid"]], d["pred_saliency_scores"]) for d in submission]
    results: dict[str, dict[str, float]] = {}
    for name in SALIENCY_LEVELS:
        results[f"HL-min-{name}"] = {
            "HL-mAP": 100.0 * float(np.mean(np.concatenate([q[name][0] for q in per_query]))),
            "HL-Hit1": 100.0 * float(np.mean([q[name][1] for q in per_query])),
        }
    return results


def per_query_highlight(
    submission: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Any],
    level: str = "VeryGood",
    clip_length: float = 2.0,
) -> dict[Any, dict[str, float]]:
    """Per qid at one level: ``{"ap": mean AP over annotators, "hit1": 0/1}`` (for paired analyses)."""
    truth = {field_of(r, "qid"): saliency_matrix(r, clip_length) for r in ground_truth}
    out = {}
    for d in submission:
        ap, hit = query_highlight_levels(truth[d["qid"]], np.asarray(d["pred_saliency_scores"]))[level]
        out[d["qid"]] = {"ap": float(ap.mean()), "hit1": hit}
    return out


# --------------------------------------------------------------------------- moment retrieval


def temporal_iou(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of [start, end] spans."""
    spans1, spans2 = np.asarray(spans1, dtype=float), np.asarray(spans2, dtype=float)
    left = np.maximum(spans1[:, None, 0], spans2[None, :, 0])
    right = np.minimum(spans1[:, None, 1], spans2[None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = (spans1[:, 1] - spans1[:, 0])[:, None] + (spans2[:, 1] - spans2[:, 0])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC-2011 interpolated AP: area under the monotone precision envelope."""
    mprecision = np.r_[0.0, precision, 0.0]
    mrecall = np.r_[0.0, recall, 1.0]
    mprecision = np.maximum.accumulate(mprecision[::-1])[::-1]
    steps = np.flatnonzero(mrecall[1:] != mrecall[:-1]) + 1
    return float(np.sum((mrecall[steps] - mrecall[steps - 1]) * mprecision[steps]))


def detection_ap(
    gt_windows: np.ndarray, pred_windows: np.ndarray, thresholds: Sequence[float] = IOU_THRESHOLDS
) -> np.ndarray:
    """AP per IoU threshold for one query: predictions ``[start, end, score]`` greedily matched by score."""
    gt = np.asarray(gt_windows, dtype=float).reshape(-1, 2)
    pred = np.asarray(pred_windows, dtype=float).reshape(-1, 3)
    ap = np.zeros(len(thresholds))
    if len(pred) == 0 or len(gt) == 0:
        return ap
    order = np.argsort(-pred[:, 2], kind="stable")  # Python's sort by -score: stable on ties
    pred = pred[order]
    iou = temporal_iou(pred[:, :2], gt)
    tp = np.zeros((len(thresholds), len(pred)))
    fp = np.zeros_like(tp)
    for t, threshold in enumerate(thresholds):
        taken = np.zeros(len(gt), dtype=bool)
        for p in range(len(pred)):
            for g in np.argsort(iou[p])[::-1]:  # ground truths by decreasing IoU
                if iou[p, g] < threshold:
                    fp[t, p] = 1
                    break
                if taken[g]:
                    continue
                tp[t, p] = 1
                taken[g] = True
                break
            if tp[t, p] == 0 and fp[t, p] == 0:
                fp[t, p] = 1
    tp_sum, fp_sum = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
    recall = tp_sum / len(gt)
    precision = tp_sum / (tp_sum + fp_sum)
    for t in range(len(thresholds)):
        ap[t] = _interpolated_ap(precision[t], recall[t])
    return ap


def _in_range(windows: Iterable[Sequence[float]], low: float, high: float) -> list[list[float]]:
    return [list(w) for w in windows if low < w[1] - w[0] <= high]


def eval_moment_retrieval(
    submission: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Any],
    thresholds: Sequence[float] = IOU_THRESHOLDS,
    ranges: Mapping[str, tuple[float, float]] = LENGTH_RANGES,
) -> dict[str, dict[str, dict[str, float] | None]]:
    """``{range: {"MR-mAP": {t: ..., "average": ...}, "MR-R1": {t: ...}}}`` in percent; None for an empty range."""
    truth = {field_of(r, "qid"): [list(map(float, w)) for w in field_of(r, "relevant_windows")] for r in ground_truth}
    results: dict[str, dict[str, dict[str, float] | None]] = {}
    for name, (low, high) in ranges.items():
        everything = (low, high) == LENGTH_RANGES["full"]
        kept = {q: (w if everything else _in_range(w, low, high)) for q, w in truth.items()}
        queries = [d for d in submission if kept.get(d["qid"])]
        if not queries:
            results[name] = {"MR-mAP": None, "MR-R1": None}
            continue
        aps = np.array(
            [
                detection_ap(
                    np.array(kept[d["qid"]]), np.asarray(d["pred_relevant_windows"])[:MAX_PRED_WINDOWS], thresholds
                )
                for d in queries
            ]
        )
        mean_ap = {_threshold_key(t): 100.0 * float(v) for t, v in zip(thresholds, aps.mean(0))}
        mean_ap["average"] = 100.0 * float(aps.mean(0).mean())
        ious = []
        for d in queries:
            first = np.asarray(d["pred_relevant_windows"])[0, :2][None]
            gts = np.array(kept[d["qid"]])
            ious.append(float(temporal_iou(first, gts)[0].max()))
        r1 = {_threshold_key(t): 100.0 * float(np.mean(np.array(ious) >= t)) for t in thresholds}
        results[name] = {"MR-mAP": mean_ap, "MR-R1": r1}
    return results


def _threshold_key(t: float) -> str:
    """The official key of a threshold: ``str(float(f"{t:.2f}"))`` (0.5 -> "0.5", 0.55 -> "0.55")."""
    return str(float(f"{t:.2f}"))


# --------------------------------------------------------------------------- submission


def eval_submission(
    submission: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Any],
    clip_length: float = 2.0,
    length_tolerance: int | None = None,
    match_number: bool = True,
) -> dict[str, Any]:
    """Validate, then score highlight detection and/or moment retrieval; the official result layout.

    Keys: ``brief`` (``HL-min-VeryGood-mAP``, ``HL-min-VeryGood-Hit1``, ..., ``MR-full-R1@0.5``,
    ``MR-full-R1@0.7``, ``MR-full-mAP``, ...), ``HL-min-<level>``, and per length range
    ``full`` / ``short`` / ``middle`` / ``long``. Values in percent, unrounded.
    """
    submission, ground_truth = validate_submission(
        submission, ground_truth, clip_length, length_tolerance, match_number
    )
    metrics: dict[str, Any] = {}
    brief: dict[str, float | None] = {}
    if "pred_relevant_windows" in submission[0]:
        moments = eval_moment_retrieval(submission, ground_truth)
        metrics.update(moments)
        full_map, full_r1 = moments["full"]["MR-mAP"], moments["full"]["MR-R1"]
        if full_map is None or full_r1 is None:  # validate_submission: every scored query has windows
            raise SubmissionError("no ground-truth window to retrieve")
        brief.update(
            {
                "MR-full-mAP": full_map["average"],
                "MR-full-mAP@0.5": full_map["0.5"],
                "MR-full-mAP@0.75": full_map["0.75"],
                "MR-short-mAP": (moments["short"]["MR-mAP"] or {}).get("average"),
                "MR-middle-mAP": (moments["middle"]["MR-mAP"] or {}).get("average"),
                "MR-long-mAP": (moments["long"]["MR-mAP"] or {}).get("average"),
                "MR-full-R1@0.5": full_r1["0.5"],
                "MR-full-R1@0.7": full_r1["0.7"],
            }
        )
    if "pred_saliency_scores" in submission[0]:
        highlights = eval_highlight(submission, ground_truth, clip_length)
        metrics.update(highlights)
        for level, values in highlights.items():
            brief.update({f"{level}-{key.split('-')[1]}": value for key, value in values.items()})
    return {"brief": dict(sorted(brief.items())), **dict(sorted(metrics.items()))}


def official_rounding(results: Any) -> Any:
    """Round every number to two decimals, as the official script writes its JSON."""
    if isinstance(results, Mapping):
        return {k: official_rounding(v) for k, v in results.items()}
    if isinstance(results, float) and math.isfinite(results):
        return float(f"{results:.2f}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m revis.highlights.evaluation --submission_path P --gt_path G --save_path S`` (the official CLI)."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description="QVHighlights moment retrieval and highlight detection metrics")
    parser.add_argument("--submission_path", required=True, help="predictions, one JSON object per line")
    parser.add_argument("--gt_path", required=True, help="a highlight_*_release.jsonl file with labels")
    parser.add_argument("--save_path", help="where to write the metrics JSON (default: print only)")
    parser.add_argument(
        "--length_tolerance", type=int, default=None, help="allowed clip-count difference (default: any, as official)"
    )
    parser.add_argument("--not_match_number", action="store_true", help="score only the qids in both files")
    args = parser.parse_args(argv)
    lines = Path(args.submission_path).read_text().splitlines()
    submission = [json.loads(line) for line in lines if line.strip()]
    try:
        results = eval_submission(
            submission,
            read_jsonl(args.gt_path),
            length_tolerance=args.length_tolerance,
            match_number=not args.not_match_number,
        )
    except SubmissionError as exc:
        print(f"error: {exc}")
        return 2
    text = json.dumps(official_rounding(results), indent=4)
    print(text)
    if args.save_path:
        Path(args.save_path).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
