"""Concept vectors of a layer and the sparse decomposition of its PFVs onto them.

- **Bisecting k-means** (scikit-learn's ``BisectingKMeans``) over sampled PFVs, ``k = ratio x C``
  (the paper uses ratio 8): the centroids are the concept vectors.
- **Dictionary learning** (scikit-learn's ``MiniBatchDictionaryLearning``) and a **sparse
  autoencoder** (``revis.attribution.sae``: ReLU encoder, unit-norm linear decoder, L1 on the codes,
  Adam) as the alternative decompositions the paper compares against; their atoms are concept
  vectors like the centroids.
- **Sparse coefficients by Lasso**: each PFV ``x_p ~ sum_q u_pq v_q`` solves
  ``min_u 1/2 |x_p - u V|^2 + lam |u|_1`` (scikit-learn's ``sparse_encode``, coordinate
  descent). Concept vectors are scaled to unit norm first, so that coefficients carry the
  magnitude and ``lam`` means the same for every basis; ``lam`` is set per layer as
  ``lasso_alpha x`` the median PFV norm (the paper does not publish its lam). Coefficients are
  non-negative by default: layer outputs are post-ReLU and so are the centroids, and a concept
  is then "present" (u > 0) or absent, which the deletion/insertion protocol relies on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

# scikit-learn is imported inside the functions that fit or code: a stage (or worker process) that
# only reads fitted bases does not pay its import


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def concept_count(channels: int, ratio: float, n_samples: int) -> int:
    """k = ratio x channels, at least 2, at most the number of samples."""
    return int(max(2, min(round(ratio * channels), n_samples)))


def bisecting_kmeans_concepts(pfvs: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Centroids (k, C) of bisecting k-means over the PFVs."""
    from sklearn.cluster import BisectingKMeans

    model = BisectingKMeans(n_clusters=k, random_state=seed, n_init=1, bisecting_strategy="biggest_inertia")
    with threadpool_limits(1):  # small problems: OpenMP/BLAS threads cost more than they give (100x on a busy CPU)
        model.fit(pfvs.astype(np.float64))
    return model.cluster_centers_.astype(np.float32)


def dictionary_learning_concepts(
    pfvs: np.ndarray, k: int, lam: float, seed: int, max_iter: int = 20, positive: bool = True
) -> np.ndarray:
    """Atoms (k, C) of sparse dictionary learning with the same lam as the Lasso coding."""
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.exceptions import ConvergenceWarning

    model = MiniBatchDictionaryLearning(
        n_components=k,
        alpha=lam,
        max_iter=max_iter,
        batch_size=256,
        random_state=seed,
        fit_algorithm="cd",
        transform_algorithm="lasso_cd",
        positive_code=positive,
        positive_dict=positive,
    )
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # its inner Lasso uses the same fixed tolerance
        model.fit(pfvs.astype(np.float64))
    return model.components_.astype(np.float32)


def random_concepts(channels: int, k: int, seed: int, positive: bool = True) -> np.ndarray:
    """Random directions (k, C): the baseline 'concepts' of no learning at all."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((k, channels))
    return (np.abs(vectors) if positive else vectors).astype(np.float32)


def lasso_codes(
    pfvs: np.ndarray, vectors: np.ndarray, lam: float, positive: bool = True, max_iter: int = 500
) -> np.ndarray:
    """Sparse coefficients U (n, k) with ``pfvs ~ U @ unit_rows(vectors)``."""
    from sklearn.decomposition import sparse_encode
    from sklearn.exceptions import ConvergenceWarning

    if len(pfvs) == 0:
        return np.zeros((0, len(vectors)), dtype=np.float32)
    with warnings.catch_warnings(), threadpool_limits(1):
        # sparse_encode fixes the coordinate-descent tolerance at 1e-8: a few PFVs stop at max_iter
        # a hair short of it, which changes nothing measurable here
        warnings.simplefilter("ignore", ConvergenceWarning)
        codes = sparse_encode(
            pfvs.astype(np.float64),
            unit_rows(vectors).astype(np.float64),
            algorithm="lasso_cd",
            alpha=lam,
            positive=positive,
            max_iter=max_iter,
        )
    return codes.astype(np.float32)


@dataclass
class ConceptBasis:
    """Unit-norm concept vectors of one layer and the Lasso that codes PFVs onto them."""

    vectors: np.ndarray  # (k, C), unit rows
    lam: float
    positive: bool = True

    def __post_init__(self) -> None:
        self.vectors = unit_rows(np.asarray(self.vectors, dtype=np.float32))

    @property
    def k(self) -> int:
        return len(self.vectors)

    def encode(self, pfvs: np.ndarray) -> np.ndarray:
        return lasso_codes(pfvs, self.vectors, self.lam, self.positive)

    def encode_maps(self, activations: torch.Tensor) -> torch.Tensor:
        """Activations (N, C, H, W) -> coefficient maps (N, k, H, W)."""
        n, c, h, w = activations.shape
        flat = activations.detach().permute(0, 2, 3, 1).reshape(-1, c).cpu().numpy()
        codes = torch.from_numpy(self.encode(flat)).to(activations.device)
        return codes.reshape(n, h, w, self.k).permute(0, 3, 1, 2).contiguous()

    def reconstruct_maps(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Coefficient maps (N, k, H, W) -> reconstructed activations (N, C, H, W)."""
        return torch.einsum("nkhw,kc->nchw", coefficients, self.tensor(coefficients))

    def tensor(self, like: torch.Tensor | None = None) -> torch.Tensor:
        """The concept vectors (k, C) as a tensor, on the device and dtype of ``like``."""
        vectors = torch.from_numpy(self.vectors)
        return vectors if like is None else vectors.to(like)

    def to_dict(self) -> dict:
        return {"vectors": torch.from_numpy(self.vectors), "lam": float(self.lam), "positive": bool(self.positive)}

    @classmethod
    def from_dict(cls, d: dict) -> ConceptBasis:
        vectors = d["vectors"].numpy() if isinstance(d["vectors"], torch.Tensor) else np.asarray(d["vectors"])
        return cls(vectors=vectors, lam=float(d["lam"]), positive=bool(d["positive"]))


def reconstruction_error(x: np.ndarray | torch.Tensor, x_hat: np.ndarray | torch.Tensor) -> float:
    """Relative squared error |X - X~|^2 / |X|^2 (0: exact, 1: as bad as predicting zero)."""
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    return float(((x - x_hat) ** 2).sum() / max((x**2).sum(), 1e-12))


def lasso_penalty(pfvs: np.ndarray, lasso_alpha: float) -> float:
    """lam = lasso_alpha x median PFV norm: the penalty scales with the layer's activations."""
    norms = np.linalg.norm(pfvs, axis=1)
    return float(lasso_alpha * max(np.median(norms), 1e-6))


DECOMPOSITIONS = ("kmeans", "dictlearn", "sae", "random")


def fit_concept_bases(
    pfvs: np.ndarray,
    ratio: float,
    lasso_alpha: float,
    seed: int,
    dictlearn_iter: int = 20,
    positive: bool = True,
    sae_steps: int = 1000,
    sae_lr: float = 3e-3,
) -> dict[str, ConceptBasis]:
    """One layer's concept bases from its sampled PFVs: bisecting k-means (the paper's), dictionary
    learning and a sparse autoencoder (its alternatives) and random directions (no learning), all with
    k = ratio x channels and one Lasso penalty lam (the SAE's L1 weight too)."""
    from revis.attribution.sae import sparse_autoencoder_concepts

    k = concept_count(pfvs.shape[1], ratio, len(pfvs))
    lam = lasso_penalty(pfvs, lasso_alpha)
    vectors = {
        "kmeans": bisecting_kmeans_concepts(pfvs, k, seed),
        "dictlearn": dictionary_learning_concepts(pfvs, k, lam, seed, dictlearn_iter, positive),
        "sae": sparse_autoencoder_concepts(pfvs, k, lam, seed, sae_steps, sae_lr),
        "random": random_concepts(pfvs.shape[1], k, seed, positive),
    }
    return {name: ConceptBasis(v, lam, positive) for name, v in vectors.items()}


def bases_from_dict(saved: dict[str, dict], kind: str) -> dict[str, ConceptBasis]:
    """``{layer: ConceptBasis}`` of one decomposition from ``{layer: {kind: basis.to_dict()}}``."""
    return {layer: ConceptBasis.from_dict(by_kind[kind]) for layer, by_kind in saved.items()}
