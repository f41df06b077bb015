"""The sparse autoencoder concept extractor (revis.attribution.sae)."""

import numpy as np
import torch

from revis.attribution.concepts import fit_concept_bases, lasso_penalty, unit_rows
from revis.attribution.sae import sparse_autoencoder_concepts, train_sparse_autoencoder


def planted(n=600, k=6, c=12, active=2, seed=0):
    """PFV-like data: non-negative sums of ``active`` of ``k`` planted unit directions."""
    rng = np.random.default_rng(seed)
    atoms = unit_rows(rng.random((k, c)) ** 3)
    codes = np.zeros((n, k))
    for i in range(n):
        codes[i, rng.choice(k, active, replace=False)] = rng.uniform(0.5, 2.0, active)
    return atoms, (codes @ atoms).astype(np.float32)


def best_cosines(truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    """For each planted direction, its largest cosine with any found direction."""
    return (unit_rows(truth) @ unit_rows(found).T).max(1)


def test_the_sae_recovers_planted_sparse_directions_better_than_chance():
    torch.set_num_threads(1)
    atoms, x = planted()
    lam = lasso_penalty(x, 0.05)
    found = sparse_autoencoder_concepts(x, 12, lam, seed=0, steps=600, lr=1e-2)
    assert found.shape == (12, 12) and np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
    learned = best_cosines(atoms, found)
    # chance: as many random (non-negative, like the data) unit directions
    chance = best_cosines(atoms, np.abs(np.random.default_rng(1).standard_normal((12, 12))))
    assert learned.min() > 0.9, learned
    assert learned.mean() > chance.mean() + 0.1, (learned, chance)


def test_the_sae_is_deterministic_given_the_seed_and_leaves_the_global_rng_alone():
    torch.set_num_threads(1)
    _, x = planted(n=200)
    state = torch.get_rng_state()
    first = train_sparse_autoencoder(x, 8, 0.05, seed=3, steps=50)
    assert torch.equal(state, torch.get_rng_state())
    again = train_sparse_autoencoder(x, 8, 0.05, seed=3, steps=50)
    other = train_sparse_autoencoder(x, 8, 0.05, seed=4, steps=50)
    assert np.array_equal(first.dictionary, again.dictionary) and np.array_equal(first.encoder, again.encoder)
    assert not np.array_equal(first.dictionary, other.dictionary)
    assert np.isfinite(first.loss) and (first.encode(x) >= 0).all()


def test_the_sae_is_one_of_the_fitted_bases_with_the_same_k_and_lam():
    torch.set_num_threads(1)
    _, x = planted(n=200)
    bases = fit_concept_bases(x, ratio=0.5, lasso_alpha=0.05, seed=0, dictlearn_iter=2, sae_steps=30)
    assert set(bases) == {"kmeans", "dictlearn", "sae", "random"}
    assert {b.k for b in bases.values()} == {6} and len({b.lam for b in bases.values()}) == 1
    assert (bases["sae"].encode(x) >= 0).all()
