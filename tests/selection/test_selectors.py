import itertools

import numpy as np
import pytest
import torch

from revis.selection import CSOD, SELECTORS, SelectionPool, build_selector, coverage
from revis.selection.benchmark import apricot_graph_cut, benchmark, one_class_pool
from revis.selection.grid import CsodSettings, lam_label, run_selection, selection_grid


def pool_from(rows: list[tuple[int, int, list[float]]], n_images: int, n_classes: int, boxes=None) -> SelectionPool:
    """rows: (image, class, vector)."""
    return SelectionPool(
        image_ids=[f"im{i}" for i in range(n_images)],
        class_names=[f"c{c}" for c in range(n_classes)],
        image_index=np.array([r[0] for r in rows]),
        class_index=np.array([r[1] for r in rows]),
        vectors=torch.tensor([r[2] for r in rows], dtype=torch.float32),
        box_counts=np.array(boxes if boxes is not None else [1] * len(rows)),
    )


def random_pool(seed: int, n_images: int = 40, n_classes: int = 4, d: int = 8) -> SelectionPool:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        classes = rng.choice(
            n_classes, size=int(rng.integers(1, 3)), replace=False, p=[0.5, 0.3, 0.15, 0.05][:n_classes]
        )
        rows += [(i, int(c), list(np.abs(rng.normal(size=d)) + 0.1)) for c in sorted(classes)]
    return pool_from(rows, n_images + 2, n_classes, boxes=list(rng.integers(1, 4, size=len(rows))))  # 2 empty images


def _best_candidate(vec: dict, c: int, candidates: list, unselected: list, selected: set, lam: float, reduction: str):
    """The candidate of class c with the largest gain rep - lam * div (ties: the lowest index)."""
    best, best_gain = None, -np.inf
    for i in sorted(candidates):
        rep = sum(float(vec[i, c] @ vec[k, c]) for k in unselected)
        div = sum(float(vec[i, c] @ vec[s, c]) for s in selected)
        if reduction == "mean":
            rep, div = rep / max(len(unselected), 1), div / max(len(selected), 1)
        gain = rep - lam * div
        if gain > best_gain + 1e-9:
            best, best_gain = i, gain
    return best


def reference_csod(pool: SelectionPool, budget: int, lam: float, reduction: str, multi_class: str, order: str) -> list:
    """The paper's formula, literally: explicit sets and a full similarity matrix per class."""
    unit = pool.unit_vectors().double()
    vec = {(int(i), int(c)): unit[r] for r, (i, c) in enumerate(zip(pool.image_index, pool.class_index))}
    members = {c: [i for (i, k) in vec if k == c] for c in range(pool.n_classes)}
    classes = [c for c in range(pool.n_classes) if members[c]]
    if order == "rarest_first":
        classes.sort(key=lambda c: (len(members[c]), c))
    picked: list[int] = []
    s_c: dict[int, set] = {c: set() for c in classes}  # S as seen by class c
    while len(picked) < budget:
        progressed = False
        for c in classes:
            if len(picked) >= budget:
                break
            candidates = [i for i in members[c] if i not in picked]
            if not candidates:
                continue
            unselected = [k for k in members[c] if k not in s_c[c]]
            best = _best_candidate(vec, c, candidates, unselected, s_c[c], lam, reduction)
            picked.append(best)
            for k in classes if multi_class == "shared" else [c]:
                if (best, k) in vec:
                    s_c[k].add(best)
            progressed = True
        if not progressed:
            break
    return picked


@pytest.mark.parametrize(
    ("reduction", "multi_class", "order"),
    list(itertools.product(["sum", "mean"], ["shared", "per_class"], ["index", "rarest_first"])),
)
def test_vectorised_csod_equals_the_literal_formula(reduction, multi_class, order):
    for seed, lam in [(0, 0.0), (1, 0.7), (2, 3.0)]:
        pool = random_pool(seed)
        selector = CSOD(lam=lam, reduction=reduction, multi_class=multi_class, class_order=order)
        assert selector.select(pool, 15).tolist() == reference_csod(pool, 15, lam, reduction, multi_class, order)


def clusters_pool(sizes: list[int], seed: int = 0) -> tuple[SelectionPool, np.ndarray]:
    """One class; cluster j of sizes[j] images around the j-th axis (orthogonal clusters)."""
    rng = np.random.default_rng(seed)
    rows, cluster = [], []
    for j, size in enumerate(sizes):
        for _ in range(size):
            v = np.zeros(len(sizes)) + 0.01 * np.abs(rng.normal(size=len(sizes)))
            v[j] = 1.0
            rows.append((len(rows), 0, list(v)))
            cluster.append(j)
    return pool_from(rows, len(rows), 1), np.array(cluster)


def test_lambda_zero_piles_into_the_densest_cluster_lambda_positive_spreads():
    pool, cluster = clusters_pool([10, 5, 4])
    for reduction in ("sum", "mean"):
        greedy = CSOD(lam=0.0, reduction=reduction).select(pool, 3)
        assert set(cluster[greedy]) == {0}  # pure representativeness: near-duplicates of the densest cluster
    # "sum": lambda weighs |S| similarities against |P \ S| ones, so spreading needs lambda > 9 - 5
    assert set(cluster[CSOD(lam=2.0, reduction="sum").select(pool, 3)]) != {0, 1, 2}
    for reduction, lam in (("sum", 8.0), ("mean", 1.0)):
        diverse = CSOD(lam=lam, reduction=reduction).select(pool, 3)
        assert cluster[diverse].tolist() == [0, 1, 2]  # the most representative first, then one per cluster


def test_csod_prefers_representative_points_over_outliers():
    pool, cluster = clusters_pool([12, 1, 1])
    assert cluster[CSOD(lam=1.0).select(pool, 1)[0]] == 0
    # k-center does the opposite: after its first centre it jumps to an outlier
    far = build_selector("k_center").select(pool, 2, seed=0)
    assert cluster[far[1]] != cluster[far[0]]


def test_csod_covers_every_class_first_even_the_rarest():
    pool = random_pool(3)
    present = pool.presence()
    picks = CSOD(lam=1.0).select(pool, pool.n_classes)
    assert present[picks].any(0).all()
    rarest = int(np.argmin(present.sum(0)))
    assert present[CSOD(class_order="rarest_first").select(pool, 1)[0], rarest]


def test_shared_accounting_counts_a_pick_for_its_other_classes():
    # class 1 has two clusters; image 0 (picked in class 0's turn) already holds a class-1 object of cluster C
    c1_cluster_c, c1_cluster_d = [1.0, 0.0], [0.0, 1.0]
    rows = [(0, 0, [1.0, 0.0]), (0, 1, c1_cluster_c)]
    rows += [(i, 1, c1_cluster_c) for i in range(1, 6)]  # 5 more of C (the denser cluster)
    rows += [(i, 1, c1_cluster_d) for i in range(6, 10)]  # 4 of D
    pool = pool_from(rows, 10, 2)
    shared = CSOD(lam=2.0, multi_class="shared").select(pool, 2)
    per_class = CSOD(lam=2.0, multi_class="per_class").select(pool, 2)
    assert shared[0] == per_class[0] == 0
    assert shared[1] >= 6  # C is represented by image 0 already: go to D
    assert 1 <= per_class[1] <= 5  # class 1 has selected nothing yet: the densest cluster C


@pytest.mark.integration  # apricot's numba compilation takes ~10 s
def test_single_class_csod_is_apricot_graph_cut():
    rng = np.random.default_rng(0)
    features = np.abs(rng.normal(size=(80, 12))).astype(np.float32)
    for lam in (0.0, 1.0, 3.0):
        assert (
            CSOD(lam=lam).select(one_class_pool(features), 12).tolist() == apricot_graph_cut(features, 12, lam).tolist()
        )


def test_benchmark_reports_a_ratio_and_agreement():
    result = benchmark(n=150, d=16, k=10, repeats=1)
    assert result["same_selection"] and result["csod_s"] > 0 and result["ratio_apricot_over_csod"] > 0


@pytest.mark.parametrize("method", sorted(SELECTORS))
def test_every_selector_returns_distinct_in_range_indices(method):
    pool = random_pool(4)
    for budget in (1, 7, pool.n_images):
        picks = build_selector(method).select(pool, budget, seed=1)
        assert len(set(picks.tolist())) == len(picks) and picks.min() >= 0 and picks.max() < pool.n_images
        # label-driven methods cannot pick the 2 images without objects; the others can take everything
        expected = pool.n_images - 2 if method in {"csod", "csod_image", "balanced_random"} else pool.n_images
        assert len(picks) == min(budget, expected)


def test_random_selectors_follow_their_seed():
    pool = random_pool(5)
    for method in ("random", "balanced_random", "k_center"):
        selector = build_selector(method)
        assert selector.select(pool, 8, seed=3).tolist() == selector.select(pool, 8, seed=3).tolist()
        assert selector.select(pool, 8, seed=3).tolist() != selector.select(pool, 8, seed=4).tolist()


def test_balanced_random_covers_every_class_in_its_first_round():
    pool = random_pool(6)
    picks = build_selector("balanced_random").select(pool, pool.n_classes, seed=0)
    assert pool.presence()[picks].any(0).all()


def test_facility_location_and_k_center_take_one_per_cluster():
    pool, cluster = clusters_pool([9, 5, 3])
    assert sorted(cluster[build_selector("facility_location").select(pool, 3)]) == [0, 1, 2]
    assert sorted(cluster[build_selector("k_center").select(pool, 3, seed=2)]) == [0, 1, 2]
    # facility location starts at the densest cluster (largest coverage gain)
    assert cluster[build_selector("facility_location").select(pool, 1)[0]] == 0


def test_coverage_counts_boxes_and_classes():
    rows = [(0, 0, [1.0]), (0, 2, [1.0]), (1, 0, [1.0]), (2, 1, [1.0])]
    pool = pool_from(rows, 3, 3, boxes=[2, 1, 3, 4])
    assert coverage(pool, np.array([0, 1])) == {
        "images": 2,
        "classes_covered": 2,
        "min_boxes_per_class": 0,
        "boxes": 6,
        "boxes_per_class": {"c0": 5, "c1": 0, "c2": 1},
    }


def test_pool_round_trips_and_rejects_duplicate_pairs():
    pool = random_pool(7)
    again = SelectionPool.from_dict(pool.to_dict())
    assert again.image_ids == pool.image_ids and torch.equal(again.vectors, pool.vectors)
    with pytest.raises(ValueError, match="one row"):
        pool_from([(0, 0, [1.0]), (0, 0, [2.0])], 1, 1)


def test_grid_labels_and_lambda_sweep():
    specs = selection_grid(["random", "csod"], [5, 10], [0, 1], CsodSettings(lam=1.0), [0.0, 0.5], [5])
    labels = {(s.label, s.budget) for s in specs}
    assert ("csod_lam0", 5) in labels and ("csod_lam0p5", 5) in labels and ("csod_lam0", 10) not in labels
    assert len(specs) == 2 * 2 * 2 + 2 * 1 * 2 and lam_label(4.0) == "lam4"
    rows = run_selection(random_pool(8), specs)
    assert all(len(r["image_ids"]) == r["budget"] and r["seconds"] >= 0 for r in rows)


def test_grid_runs_extra_baselines_at_the_smallest_budget_and_each_seed_on_its_own_pool():
    specs = selection_grid(
        ["random", "facility_location"], [5, 10], [0, 1], CsodSettings(), smallest_budget_only=["facility_location"]
    )
    assert {(s.label, s.budget) for s in specs} == {("random", 5), ("random", 10), ("facility_location", 5)}
    pools = {0: random_pool(1), 1: random_pool(2)}
    rows = run_selection(pools, [s for s in specs if s.label == "facility_location"])
    # facility location is deterministic: different picks can only come from the seeds' different pools
    assert [pools[r["seed"]].image_ids.index(i) for r in rows[:1] for i in r["image_ids"]] == (
        build_selector("facility_location").select(pools[0], 5).tolist()
    )
    assert [pools[1].image_ids.index(i) for i in rows[1]["image_ids"]] == (
        build_selector("facility_location").select(pools[1], 5).tolist()
    )


def test_detectable_difference_is_the_one_sided_paired_t_threshold():
    from scipy import stats

    from revis.selection.results import detectable_difference, paired

    differences, seeds = paired({0: 0.30, 1: 0.32, 2: 0.35}, {0: 0.28, 1: 0.31, 2: 0.30, 3: 0.1})
    assert seeds == [0, 1, 2] and differences == pytest.approx([0.02, 0.01, 0.05])
    threshold = detectable_difference(differences)
    sd = np.std(differences, ddof=1)
    assert threshold == pytest.approx(stats.t.ppf(0.95, 2) * sd / np.sqrt(3))
    # a mean difference just above the threshold is exactly what a one-sided paired t test calls significant
    shifted = np.asarray(differences) - np.mean(differences) + threshold * 1.001
    assert stats.ttest_1samp(shifted, 0.0, alternative="greater").pvalue < 0.05
    assert detectable_difference([0.1]) is None


def test_image_level_ablation_equals_csod_on_image_vectors_and_differs_from_class_vectors():
    pool = random_pool(3, n_images=30, d=6)
    params = {"lam": 1.0, "reduction": "mean", "multi_class": "shared", "class_order": "index"}
    ablation = build_selector("csod_image", **params).select(pool, 9)
    image_rows = pool.image_vectors()[torch.as_tensor(pool.image_index)]  # each row: its image's vector
    same_vectors = SelectionPool(
        pool.image_ids, pool.class_names, pool.image_index, pool.class_index, image_rows, pool.box_counts
    )
    assert ablation.tolist() == CSOD(**params).select(same_vectors, 9).tolist()
    assert ablation.tolist() != CSOD(**params).select(pool, 9).tolist()  # per-class vectors pick otherwise
    specs = selection_grid(["random", "csod_image"], [4], [0], CsodSettings(**params))
    assert [s.params for s in specs if s.method == "csod_image"] == [params]  # the ablation runs CSOD's settings
