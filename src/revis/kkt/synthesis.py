"""DeepKKT use (b): synthesise Deep Support Vectors, from noise (0-shot) or from a few real images.

Candidates X and multipliers λ are optimised jointly (Adam on both); λ starts at the
least-squares scale of the initial candidates and a candidate whose λ turns negative is
removed. Images are kept in [0, 1] (projected after every step). The candidates' mean
predictive entropy is recorded at every step: DSVs drift towards the decision boundary, so
it rises (the paper: ≈ 0.2 → ≈ 1.0 on CIFAR-10).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from revis.kkt.deepkkt import DeepKKT, KKTState, predictive_entropy


@dataclass
class Synthesis:
    images: torch.Tensor  # (M, C, H, W) the candidates that survived (λ ≥ 0)
    labels: torch.Tensor  # (M,)
    lam: torch.Tensor  # (M,)
    initial: torch.Tensor  # (N, C, H, W) all candidates before optimisation
    alive: torch.Tensor  # (N,) which candidates survived
    history: dict[str, list[float]] = field(default_factory=dict)


def noise_candidates(labels: torch.Tensor, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """0-shot starting points: uniform noise in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(len(labels), *shape, generator=generator)


def synthesize(
    kkt: DeepKKT,
    x_init: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr_images: float,
    lr_lambda: float,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "dsv",
) -> Synthesis:
    """Optimise candidates ``x_init`` (labels ``y``) and their λ under the DeepKKT objective."""
    x_init, y = x_init.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    x = x_init.clone().requires_grad_(True)
    state = KKTState(kkt, x_init, y, lr_lambda)
    optimizer = torch.optim.Adam([x], lr=lr_images)
    history: dict[str, list[float]] = {
        "entropy": [],
        "accuracy": [],
        "stat": [],
        "primal": [],
        "total": [],
        "alive": [],
    }
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        loss, info = state.loss(x, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        for key in ("entropy", "accuracy", "stat", "primal", "total"):
            history[key].append(info[key])
        history["alive"].append(int(state.alive.sum()))
        bar.set_postfix(H=f"{info['entropy']:.3f}", stat=f"{info['stat']:.4g}", alive=history["alive"][-1])
    alive = state.alive.clone()
    with torch.no_grad():  # the state after the last step closes the curves
        logits = kkt.model(x[alive])
        history["entropy"].append(float(predictive_entropy(logits).mean()) if alive.any() else float("nan"))
        history["accuracy"].append(
            float((logits.argmax(1) == y[alive]).float().mean()) if alive.any() else float("nan")
        )
    history["lambda_scale"] = [state.scale]
    return Synthesis(
        images=x.detach()[alive].cpu(),
        labels=y[alive].cpu(),
        lam=state.lam.effective().detach()[alive].cpu(),
        initial=x_init.detach().cpu(),
        alive=alive.cpu(),
        history=history,
    )
