"""DeepKKT use (b): synthesise Deep Support Vectors, from noise (0-shot) or from a few real images.

Candidates X and multipliers λ are optimised jointly (Adam on both); λ starts at
1/(M·wd) (``revis.kkt.deepkkt.initial_multiplier``; why not lower: ``revis.kkt.deepkkt``) and a candidate whose λ turns negative is
removed. Images are kept inside the valid pixel range (``bounds``, projected after every
step). The candidates' mean predictive entropy and the stationarity ratio are recorded at
every step: DSVs drift towards the decision boundary, so the entropy rises (the paper:
≈ 0.2 → ≈ 1.0 on CIFAR-10).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from revis.curves import log_curve
from revis.distill.guard import run_guarded
from revis.kkt.deepkkt import DeepKKT, KKTState, predictive_entropy

HISTORY = ("entropy", "accuracy", "stat", "primal", "total")


@dataclass
class Synthesis:
    images: torch.Tensor  # (M, C, H, W) the candidates that survived (λ ≥ 0)
    labels: torch.Tensor  # (M,)
    lam: torch.Tensor  # (M,)
    initial: torch.Tensor  # (N, C, H, W) all candidates before optimisation
    alive: torch.Tensor  # (N,) which candidates survived
    history: dict[str, list[float]] = field(default_factory=dict)


def noise_candidates(labels: torch.Tensor, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """0-shot starting points: N(0, 1) noise in the standardised image space (uniform-ish pixels around the mean)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(len(labels), *shape, generator=generator)


def synthesize(
    kkt: DeepKKT,
    x_init: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    lr_images: float,
    lr_lambda: float,
    weight_decay: float,
    seed: int,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "dsv",
    curve: str | None = None,
) -> Synthesis:
    """Optimise candidates ``x_init`` (labels ``y``) and their λ under the DeepKKT objective.

    ``weight_decay`` is the teacher's (it sets λ's starting value); ``bounds`` = (low, high)
    broadcastable image tensors; ``curve`` (``revis.curves.curve_key``) names the tracker curves (``<arm>/seed<k>/stat`` ...).
    """
    x_init, y = x_init.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    if bounds is not None:
        low, high = (b.to(device) for b in bounds)
        x_init = torch.maximum(torch.minimum(x_init, high), low)
    x = x_init.clone().requires_grad_(True)
    state = KKTState(kkt, x_init, y, lr_lambda, weight_decay)
    optimizer = torch.optim.Adam([x], lr=lr_images)
    history: dict[str, list[float]] = {key: [] for key in (*HISTORY, "alive")}
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for step in bar:
        loss, info = state.loss(x, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state.step()
        if bounds is not None:
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, high), low))
        for key in HISTORY:
            history[key].append(info[key])
        history["alive"].append(int(state.alive.sum()))
        if curve is not None:
            log_curve({key: info[key] for key in ("stat", "primal", "entropy")}, step, curve)
        bar.set_postfix(H=f"{info['entropy']:.3f}", stat=f"{info['stat']:.4g}", alive=history["alive"][-1])
    alive = state.alive.clone()
    with torch.no_grad():  # the state after the last step closes the curves
        lam = state.lam.effective().detach()
        if alive.any():
            logits = kkt.model(x[alive])
            history["entropy"].append(float(predictive_entropy(logits).mean()))
            history["accuracy"].append(float((logits.argmax(1) == y[alive]).float().mean()))
            history["stat"].append(float(kkt.stationarity_ratio(x[alive].detach(), y[alive], lam[alive])))
        else:
            for key in ("entropy", "accuracy", "stat"):
                history[key].append(float("nan"))
    history["lambda_start"] = [state.start]
    history["lambda_mass_scale"] = [state.scale]
    history["stat_start_ratio"] = [state.start_ratio]
    return Synthesis(
        images=x.detach()[alive].cpu(),
        labels=y[alive].cpu(),
        lam=lam[alive].cpu(),
        initial=x_init.detach().cpu(),
        alive=alive.cpu(),
        history=history,
    )


def synthesize_job(job: dict) -> dict:
    """One DSV synthesis (a worker job): the teacher (model, shape, state dict, wd), the start, the settings.

    ``job["params"]`` is a ``revis.kkt.config.SynthesisParams``; ``job["primal_only"]`` zeroes w_stat.
    Guarded (``revis.distill.guard``): a synthesis whose total loss ends above its start is rerun
    at a lower image step size; ``"guard"`` records the step size used, restarts and ``diverged``.
    """
    from revis.augment import DiffAugment
    from revis.models import build_model

    net = build_model(job["model"], *job["shape"])
    net.load_state_dict(job["state_dict"])
    params = job["params"]
    kkt = DeepKKT(
        net.eval(),
        params.weights.to_weights(primal_only=job["primal_only"]),
        params.distance,
        DiffAugment(params.augment) if params.augment else None,
        params.parameters,
        example=job["example"],
    )

    def attempt(lr: float) -> dict:
        result = synthesize(
            kkt,
            job["x_init"],
            job["labels"],
            steps=params.steps,
            lr_images=lr,
            lr_lambda=params.lr_lambda,
            weight_decay=job["weight_decay"],
            seed=job["seed"],
            bounds=job["bounds"],
            progress=False,
        )
        return {"result": result, "history": result.history}

    guarded = run_guarded(attempt, params.lr_images, lambda out: out["history"]["total"])
    result = guarded["result"]
    return {
        "images": result.images,
        "labels": result.labels,
        "lam": result.lam,
        "initial": result.initial,
        "initial_labels": job["labels"],
        "alive": result.alive,
        "history": result.history,
        "guard": guarded["guard"],
    }


def dm_dkkt_job(job: dict) -> dict:
    """DM + λ_dkkt · DeepKKT (a worker job): ``dm_job``'s fields plus the teacher and ``term`` (a DKKT KKTParams).

    The DeepKKT term is a ``KKTState`` over the synthetic images (λ updated after every image
    step, ``distribution_matching``'s ``extra``). Guarded: a run whose total loss ends above its
    start is rerun at a lower image step size (``revis.distill.guard``); ``result["guard"]`` says so.
    """
    return _dm_dkkt(job, job["real_x"], job["real_y"], job["weight"])


def _dm_dkkt(job: dict, real_x: torch.Tensor, real_y: torch.Tensor, weight: float) -> dict:
    from revis.augment import DiffAugment
    from revis.distill.dm import distribution_matching
    from revis.models import build_model

    net = build_model(job["model"], *job["shape"])
    net.load_state_dict(job["state_dict"])
    term = job["term"]
    kkt = DeepKKT(
        net.eval(),
        term.weights.to_weights(),
        term.distance,
        DiffAugment(term.augment) if term.augment else None,
        term.parameters,
        example=real_x[:4],
    )
    classes = len(torch.unique(job["labels"]))

    def attempt(lr: float) -> dict:
        state = KKTState(kkt, job["init"], job["labels"], term.lr_lambda, job["weight_decay"])
        result = distribution_matching(
            real_x,
            real_y,
            job["init"],
            job["labels"],
            job["config"].model_copy(update={"lr": lr}),
            num_classes=job["num_classes"],
            seed=job["seed"],
            extra=state,
            extra_weight=weight,
            progress=False,
        )
        return {
            "images": result.images,
            "labels": result.labels,
            "history": {**result.history, "stat_start_ratio": [state.start_ratio]},
            "lam": state.lam.effective().detach(),
            "alive": state.alive.clone(),
        }

    def losses(out: dict) -> dict[str, list[float]]:  # the objective Σ_c DM_c + λ_dkkt · DeepKKT, and DM alone
        dm, extra = out["history"]["dm"], out["history"]["extra"] or [0.0] * len(out["history"]["dm"])
        return {"total": [classes * d + weight * e for d, e in zip(dm, extra)], "dm": dm}

    result = run_guarded(attempt, job["config"].lr, losses)
    result["history"]["guard"] = result.pop("guard")
    return result


def dm_dkkt_chosen_job(job: dict) -> dict:
    """DM + Deep-KKT with λ_dkkt chosen per run on a validation split carved from the visible data.

    ``dm_dkkt_job``'s fields plus ``grid`` (the weights tried), ``validation_share``,
    ``init_index`` (the starting images' indices in ``real_x``: they stay in the pool),
    ``protocol`` (an ``EvalProtocol``) and ``image_shape`` (C, K, S). Each weight distils from
    the visible images minus the validation split; a fresh network trained on its set (the
    protocol, the run's seed) is scored on the validation split: accuracy, then lower mean
    cross-entropy, decides. The chosen weight then distils from all the visible images.
    Without a validation image (a class with nothing outside the start) the first weight of
    the grid is kept and ``choice.validation_images`` is 0.
    """
    import torch.nn.functional as F

    from revis.distill.evaluation import train_on_set
    from revis.distill.partial import validation_indices

    x, y = job["real_x"], job["real_y"]
    val = validation_indices(y, job["init_index"], job["validation_share"], job["seed"])
    pool = torch.ones(len(y), dtype=torch.bool)
    pool[val] = False
    scores: list[tuple[float, float]] = []
    if len(val):
        for weight in job["grid"]:
            trial = _dm_dkkt(job, x[pool], y[pool], weight)
            net = train_on_set(trial["images"], trial["labels"], job["image_shape"], job["protocol"], job["seed"])
            with torch.no_grad():
                logits = net(x[val])
            scores.append((float((logits.argmax(1) == y[val]).float().mean()), float(F.cross_entropy(logits, y[val]))))
    best = max(range(len(scores)), key=lambda i: (scores[i][0], -scores[i][1])) if scores else 0
    result = _dm_dkkt(job, x, y, job["grid"][best])
    result["history"]["choice"] = {
        "grid": list(job["grid"]),
        "chosen": job["grid"][best],
        "validation_images": len(val),
        "validation_accuracy": [a for a, _ in scores],
        "validation_loss": [c for _, c in scores],
    }
    return result
