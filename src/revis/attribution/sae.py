"""A small sparse autoencoder (SAE) over PFVs: the third concept extractor the paper compares with.

The standard recipe of the SAE dictionary-learning literature (Bricken et al. 2023, "Towards
Monosemanticity"; Cunningham et al. 2023): an untied autoencoder with a ReLU encoder
``f = ReLU(x W_e + b_e)``, a linear decoder ``x~ = f D`` whose ``k`` dictionary rows (the decoder
columns of the papers' notation) are kept at unit norm — here by normalising them in the forward
pass, so the L1 penalty cannot be dodged by shrinking codes and growing atoms — and the loss
``mean_n 1/2 |x - x~|^2 + lam |f|_1``, trained by Adam on minibatches. Deviations, both so that the
SAE's atoms serve as concept vectors exactly like k-means centroids and dictionary-learning atoms:

- **no decoder bias** (nor the pre-encoder subtraction of it): every basis here reconstructs a PFV
  as ``u V`` with no offset (``revis.attribution.concepts.ConceptBasis``), so an atom must not
  lean on a learned mean;
- **the same objective as the Lasso coding**: ``lam`` is the layer's Lasso penalty, so the SAE
  minimises the Lasso objective with an amortised (one-layer) encoder instead of per-PFV
  coordinate descent. The PFVs are divided by their median norm ``s`` for training (and ``lam`` by
  ``s``, which leaves the minimiser's directions unchanged), so Adam's step size means the same
  in every layer.

Seeded by a local ``torch.Generator`` (initialisation and minibatch order); the global torch RNG is
not touched. Deterministic on one machine for one thread count (the stages run it in workers with
one torch thread).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SAEFit:
    """A trained SAE: encoder ``(C, k)`` and bias ``(k,)``, unit-norm dictionary ``(k, C)``, all in
    the input's units (the training scale folded back into the bias), and its final training loss."""

    encoder: np.ndarray
    bias: np.ndarray
    dictionary: np.ndarray
    loss: float

    def encode(self, x: np.ndarray) -> np.ndarray:
        """The SAE's own codes ``ReLU(x W_e + b_e)`` (n, k)."""
        return np.maximum(np.asarray(x, dtype=np.float32) @ self.encoder + self.bias, 0.0)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.encode(x) @ self.dictionary


def _loss(
    x: torch.Tensor, encoder: torch.Tensor, bias: torch.Tensor, decoder: torch.Tensor, lam: float
) -> torch.Tensor:
    codes = torch.relu(x @ encoder + bias)
    residual = x - codes @ F.normalize(decoder, dim=1)
    return 0.5 * residual.pow(2).sum(1).mean() + lam * codes.sum(1).mean()


def train_sparse_autoencoder(
    x: np.ndarray, k: int, lam: float, seed: int, steps: int = 1000, lr: float = 3e-3, batch_size: int = 256
) -> SAEFit:
    """Train a ReLU SAE with ``k`` unit-norm atoms on the rows of ``x`` (n, C) with L1 weight ``lam``.

    Initialisation: decoder rows standard normal (seeded), normalised; encoder = decoder transposed;
    encoder bias zero. Minibatches of ``batch_size`` rows in a seeded order, reshuffled every epoch."""
    if steps < 1 or k < 1 or len(x) == 0:
        raise ValueError(f"train_sparse_autoencoder needs steps >= 1, k >= 1 and data (got {steps}, {k}, {len(x)})")
    data = torch.as_tensor(np.asarray(x, dtype=np.float32))
    scale = float(max(np.median(np.linalg.norm(x, axis=1)), 1e-6))
    data = data / scale
    generator = torch.Generator().manual_seed(int(seed))
    decoder = F.normalize(torch.randn(k, data.shape[1], generator=generator), dim=1)
    encoder = decoder.t().clone().requires_grad_(True)
    decoder.requires_grad_(True)
    bias = torch.zeros(k, requires_grad=True)
    optimiser = torch.optim.Adam([encoder, bias, decoder], lr=lr)
    batch = min(batch_size, len(data))
    order, position = torch.randperm(len(data), generator=generator), 0
    for _ in range(steps):
        if position + batch > len(order):
            order, position = torch.randperm(len(data), generator=generator), 0
        loss = _loss(data[order[position : position + batch]], encoder, bias, decoder, lam / scale)
        position += batch
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        final = float(_loss(data, encoder, bias, decoder, lam / scale)) * scale**2
        dictionary = F.normalize(decoder, dim=1)
    return SAEFit(
        encoder=encoder.detach().numpy().copy(),
        bias=(bias.detach() * scale).numpy().copy(),
        dictionary=dictionary.numpy().copy(),
        loss=final,
    )


def sparse_autoencoder_concepts(
    pfvs: np.ndarray, k: int, lam: float, seed: int, steps: int = 1000, lr: float = 3e-3
) -> np.ndarray:
    """The SAE's unit-norm atoms (k, C): concept vectors, coded afterwards by the same Lasso as every basis."""
    return train_sparse_autoencoder(pfvs, k, lam, seed, steps=steps, lr=lr).dictionary.astype(np.float32)
