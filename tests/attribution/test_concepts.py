"""Concept vectors and the Lasso decomposition."""

import numpy as np
import torch

from revis.attribution.concepts import (
    ConceptBasis,
    bisecting_kmeans_concepts,
    concept_count,
    dictionary_learning_concepts,
    lasso_codes,
    lasso_penalty,
    random_concepts,
    reconstruction_error,
    unit_rows,
)


def known_dictionary(n=300, k=6, c=12, seed=0):
    rng = np.random.default_rng(seed)
    dictionary = unit_rows(rng.random((k, c)) ** 3)  # non-negative, fairly distinct atoms
    codes = np.zeros((n, k))
    for i in range(n):
        support = rng.choice(k, 2, replace=False)
        codes[i, support] = rng.uniform(0.5, 2.0, 2)
    return dictionary, codes, codes @ dictionary


def test_lasso_recovers_the_codes_of_a_known_dictionary():
    dictionary, codes, x = known_dictionary()
    found = lasso_codes(x, dictionary, lam=1e-3)
    assert np.abs(found - codes).max() < 0.05
    assert ((found > 0.05) == (codes > 0)).mean() > 0.99  # the support is recovered
    assert reconstruction_error(x, found @ dictionary) < 1e-3


def test_a_larger_penalty_gives_sparser_codes_and_a_larger_error():
    dictionary, _, x = known_dictionary()
    small, large = lasso_codes(x, dictionary, 1e-3), lasso_codes(x, dictionary, 1.5)
    assert (large > 0).mean() < (small > 0).mean()
    assert reconstruction_error(x, large @ dictionary) > reconstruction_error(x, small @ dictionary)
    assert (small >= 0).all() and (large >= 0).all()


def test_bisecting_kmeans_finds_separated_clusters_with_k_from_the_ratio():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 5
    x = np.concatenate([c + rng.normal(0, 0.1, (50, 4)) for c in centres])
    k = concept_count(channels=4, ratio=1.0, n_samples=len(x))
    assert k == 4 and concept_count(4, 8.0, 10) == 10 and concept_count(4, 0.01, 100) == 2
    found = bisecting_kmeans_concepts(x, k, seed=0)
    distance = np.linalg.norm(found[:, None] - centres[None], axis=2)
    assert distance.min(1).max() < 0.2  # every centroid sits on a true centre
    assert sorted(distance.argmin(1)) == [0, 1, 2, 3]


def test_learned_dictionaries_reconstruct_better_than_random_directions():
    _dictionary, _, x = known_dictionary(n=400)
    lam = lasso_penalty(x, 0.02)
    learned = {
        "kmeans": bisecting_kmeans_concepts(x, 6, seed=0),
        "dictlearn": dictionary_learning_concepts(x, 6, lam, seed=0, max_iter=30),
    }
    rand = lasso_codes(x, random_concepts(12, 6, seed=0), lam) @ unit_rows(random_concepts(12, 6, seed=0))
    random_error = reconstruction_error(x, rand)
    for vectors in learned.values():
        assert (vectors >= 0).all()
        err = reconstruction_error(x, lasso_codes(x, vectors, lam) @ unit_rows(vectors))
        assert err < random_error


def test_basis_maps_round_trip_and_serialise():
    dictionary, _, _ = known_dictionary(k=5, c=8)
    basis = ConceptBasis(dictionary * 3.0, lam=1e-3)  # rows are normalised on the way in
    assert np.allclose(np.linalg.norm(basis.vectors, axis=1), 1.0)
    codes = torch.rand(2, 5, 3, 4) * (torch.rand(2, 5, 3, 4) > 0.5)
    acts = basis.reconstruct_maps(codes)
    assert acts.shape == (2, 8, 3, 4)
    back = ConceptBasis.from_dict(basis.to_dict()).encode_maps(acts)
    assert back.shape == codes.shape
    assert reconstruction_error(acts.numpy(), basis.reconstruct_maps(back).numpy()) < 1e-3
