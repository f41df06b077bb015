"""DeepKKT use (b): synthesize Deep Support Vectors, from noise (0-shot) or from a few real images.

Candidates X and multipliers λ are optimized jointly (Adam on both); λ starts at
1/(M·wd) (``revis.kkt.deepkkt.initial_multiplier``; why not lower: ``revis.kkt.deepkkt``) and a candidate whose λ turns negative is
removed. Images are kept inside the valid pixel range (``bounds``, projected after every
step). The candidates' mean predictive entropy and the stationarity ratio are recorded at
every step: DSVs drift towards the decision boundary, so the entropy rises (the paper:
≈ 0.2 → ≈ 1.0 on CIFAR-10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from tqdm.auto import tqdm

from revis.curves import log_curve
from revis.distill.config import EvalProtocol
from revis.distill.dm import DMJob
from revis.distill.guard import FACTOR, RESTARTS, best_scored, run_guarded
from revis.kkt.artifacts import SynthesisRecord
from revis.kkt.config import KKTParams, SynthesisParams
from revis.kkt.deepkkt import DeepKKT, KKTState, StartRule, predictive_entropy
from revis.kkt.teacher import TeacherState

HISTORY = ("entropy", "accuracy", "stat", "primal", "total")
RisingTrials = Literal["restart", "exclude"]  # a validation trial whose loss rises: rerun lower, or left out
LAMBDA_RESTARTS, LAMBDA_RESTART_FACTOR = 2, 0.3  # a synthesis that lost every candidate: λ's step × 0.3, twice at most


@dataclass
class Synthesis:
    images: torch.Tensor  # (M, C, H, W) the candidates that survived (λ ≥ 0)
    labels: torch.Tensor  # (M,)
    lam: torch.Tensor  # (M,)
    initial: torch.Tensor  # (N, C, H, W) all candidates before optimization
    alive: torch.Tensor  # (N,) which candidates survived
    history: dict[str, list[float]] = field(default_factory=dict)


def noise_candidates(labels: torch.Tensor, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """0-shot starting points: N(0, 1) noise in the standardized image space (uniform-ish pixels around the mean)."""
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
    start: StartRule = "mass",
) -> Synthesis:
    """Optimize candidates ``x_init`` (labels ``y``) and their λ under the DeepKKT objective.

    ``weight_decay`` is the teacher's (it sets λ's starting value); ``bounds`` = (low, high)
    broadcastable image tensors; ``start``: λ's starting rule (``KKTState``); ``curve`` (``revis.curves.curve_key``) names the tracker curves (``<arm>/seed<k>/stat`` ...).
    """
    x_init, y = x_init.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    if bounds is not None:
        low, high = (b.to(device) for b in bounds)
        x_init = torch.maximum(torch.minimum(x_init, high), low)
    x = x_init.clone().requires_grad_(True)
    state = KKTState(kkt, x_init, y, lr_lambda, weight_decay, start=start)
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


@dataclass(frozen=True)
class SynthesisJob:
    """One DSV synthesis (a worker job): the teacher, the start (``x_init``, ``labels``), the settings.

    ``example`` (a few real images) finds the identifiable parameters; ``bounds`` = (low, high)
    pixel limits; ``primal_only`` zeroes w_stat (the paper's ablation).
    """

    teacher: TeacherState
    example: torch.Tensor
    x_init: torch.Tensor
    labels: torch.Tensor
    bounds: tuple[torch.Tensor, torch.Tensor]
    params: SynthesisParams
    primal_only: bool
    seed: int


def synthesize_job(job: SynthesisJob) -> SynthesisRecord:
    """One DSV synthesis (a worker job).

    Guarded (``revis.distill.guard``): a synthesis whose total loss ends above its start is rerun at
    a lower image step size. One that loses every candidate (all multipliers pruned: an empty set,
    which would score the constant guess; from noise the mass start 1/(M·wd) overshoots and λ's Adam
    steps, lr_lambda · λ0 each, take every λ below zero within ~1/lr_lambda steps) is first rerun
    with λ's step size × 0.3 (twice at most; the images keep theirs: lowering both left digits seed
    1's noise unconverged, 0.076 accuracy, λ alone 0.156), then, still empty, handed to the guard as
    ``collapsed``. ``"guard"`` records the image step size used, restarts, ``lambda_restarts`` and
    ``diverged`` (``rose`` names ``collapsed`` when every candidate was still lost).
    """
    from revis.augment import DiffAugment

    params = job.params
    kkt = DeepKKT(
        job.teacher.network().eval(),
        params.weights.to_weights(primal_only=job.primal_only),
        params.distance,
        DiffAugment(params.augment) if params.augment else None,
        params.parameters,
        example=job.example,
    )

    def attempt(lr: float) -> dict:
        lambda_restarts = 0
        while True:
            result = synthesize(
                kkt,
                job.x_init,
                job.labels,
                steps=params.steps,
                lr_images=lr,
                lr_lambda=params.lr_lambda * LAMBDA_RESTART_FACTOR**lambda_restarts,
                weight_decay=job.teacher.weight_decay,
                seed=job.seed,
                bounds=job.bounds,
                progress=False,
            )
            if result.alive.any() or lambda_restarts == LAMBDA_RESTARTS:
                break
            lambda_restarts += 1
        return {"result": result, "history": result.history, "lambda_restarts": lambda_restarts}

    guarded = run_guarded(
        attempt,
        params.lr_images,
        lambda out: out["history"]["total"],
        collapsed=lambda out: not bool(out["result"].alive.any()),
    )
    result = guarded["result"]
    guarded["guard"]["lambda_restarts"] = guarded["lambda_restarts"]
    return {
        "images": result.images,
        "labels": result.labels,
        "lam": result.lam,
        "initial": result.initial,
        "initial_labels": job.labels,
        "alive": result.alive,
        "history": result.history,
        "guard": guarded["guard"],
    }


@dataclass(frozen=True)
class DMDKKTJob:
    """DM + ``weight`` · DeepKKT (a worker job): a DM run, the teacher and the DeepKKT term's settings."""

    dm: DMJob
    teacher: TeacherState
    term: KKTParams
    weight: float


@dataclass(frozen=True)
class ChosenDMDKKTJob:
    """DM + Deep-KKT with the weight chosen from ``grid`` on a validation split (``dm_dkkt_chosen_job``).

    ``init_index``: the starting images' indices in ``dm.real_x`` (they stay in the pool);
    ``protocol`` scores a fresh network per weight; ``image_shape`` is (C, K, S); ``rising_trials``:
    what a trial whose loss rises becomes (``restart``: guarded as any run; ``exclude``: left out, ``_trials``).
    """

    dm: DMJob
    teacher: TeacherState
    term: KKTParams
    grid: tuple[float, ...]
    validation_share: float
    protocol: EvalProtocol
    image_shape: tuple[int, int, int]
    init_index: torch.Tensor
    rising_trials: RisingTrials = "restart"


def dm_dkkt_job(job: DMDKKTJob) -> dict:
    """DM + λ_dkkt · DeepKKT (a worker job).

    The DeepKKT term is a ``KKTState`` over the synthetic images (λ updated after every image
    step, ``distribution_matching``'s ``extra``). Guarded: a run whose total loss ends above its
    start is rerun at a lower image step size (``revis.distill.guard``); ``result["guard"]`` says so.
    """
    return _dm_dkkt(job.dm, job.teacher, job.term, job.dm.real_x, job.dm.real_y, job.weight)


def _dm_dkkt(
    dm: DMJob,
    teacher: TeacherState,
    term: KKTParams,
    real_x: torch.Tensor,
    real_y: torch.Tensor,
    weight: float,
    *,
    lr: float | None = None,
    restarts: int = RESTARTS,
) -> dict:
    """One guarded DM + ``weight`` · DeepKKT run from ``real_x``: first at ``lr`` (default DM's), ``restarts`` reruns."""
    from revis.augment import DiffAugment
    from revis.distill.dm import distribution_matching

    kkt = DeepKKT(
        teacher.network().eval(),
        term.weights.to_weights(),
        term.distance,
        DiffAugment(term.augment) if term.augment else None,
        term.parameters,
        example=real_x[:4],
    )
    classes = len(torch.unique(dm.labels))

    def attempt(lr: float) -> dict:
        state = KKTState(kkt, dm.init, dm.labels, term.lr_lambda, teacher.weight_decay)
        result = distribution_matching(
            real_x,
            real_y,
            dm.init,
            dm.labels,
            dm.config.model_copy(update={"lr": lr}),
            num_classes=dm.num_classes,
            seed=dm.seed,
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

    def losses(
        out: dict[str, Any],
    ) -> dict[str, Sequence[float]]:  # the objective Σ_c DM_c + λ_dkkt · DeepKKT, and DM alone
        dm_losses, extra = out["history"]["dm"], out["history"]["extra"] or [0.0] * len(out["history"]["dm"])
        return {"total": [classes * d + weight * e for d, e in zip(dm_losses, extra)], "dm": dm_losses}

    result = run_guarded(attempt, dm.config.lr if lr is None else lr, losses, restarts=restarts)
    result["history"]["guard"] = result.pop("guard")
    return result


def dm_dkkt_chosen_job(job: ChosenDMDKKTJob) -> dict:
    """DM + Deep-KKT with λ_dkkt chosen per run on a validation split carved from the visible data.

    Each weight of ``job.grid`` distils from the visible images minus the validation split
    (``validation_share`` of each class, outside the starting images); a fresh network trained
    on its set (the protocol, the run's seed) is scored on the validation split: accuracy, then
    lower mean cross-entropy, decides (``best_scored``; trials that rose are handled by
    ``rising_trials``, see ``_trials``). The chosen weight then distils from all the visible
    images (guarded as every run). Without a validation image (a class with nothing outside the
    start) the first weight of the grid is kept and ``choice.validation_images`` is 0.
    ``choice.trials`` holds each trial's guard record, ``choice.excluded`` which were not scored.
    """
    from revis.distill.partial import validation_indices

    x, y = job.dm.real_x, job.dm.real_y
    val = validation_indices(y, job.init_index, job.validation_share, job.dm.seed)
    pool = torch.ones(len(y), dtype=torch.bool)
    pool[val] = False
    scores: list[tuple[float, float] | None] = []
    trials: list[dict] = []
    excluded = [False] * len(job.grid)
    if len(val):
        trials, excluded = _trials(job, x[pool], y[pool])
        scores = [None if out else _validation_score(t, job, x[val], y[val]) for t, out in zip(trials, excluded)]
    best = best_scored(scores) or 0  # None: nothing scored, the grid's first weight
    result = _dm_dkkt(job.dm, job.teacher, job.term, x, y, job.grid[best])
    result["history"]["choice"] = {
        "grid": list(job.grid),
        "chosen": job.grid[best],
        "validation_images": len(val),
        "validation_accuracy": [None if s is None else s[0] for s in scores],
        "validation_loss": [None if s is None else s[1] for s in scores],
        "excluded": excluded,
        "trials": [t["history"]["guard"] for t in trials],
    }
    return result


def _trials(job: ChosenDMDKKTJob, x: torch.Tensor, y: torch.Tensor) -> tuple[list[dict], list[bool]]:
    """The trial run of every weight from (``x``, ``y``), and which are excluded from the choice.

    ``restart`` (default): every trial is guarded as any run (a rising one rerun at a lower step)
    and scored. ``exclude``: a trial whose loss rises at the set step is not restarted but excluded
    (no network trained); only when every weight's trial rose are all rerun as the guard would
    have (from its first restart: the same runs, the same results), so the choice is never empty.
    """
    if job.rising_trials == "restart":
        return [_dm_dkkt(job.dm, job.teacher, job.term, x, y, w) for w in job.grid], [False] * len(job.grid)
    trials = [_dm_dkkt(job.dm, job.teacher, job.term, x, y, w, restarts=0) for w in job.grid]
    excluded = [bool(t["history"]["guard"]["diverged"]) for t in trials]
    if not all(excluded):
        return trials, excluded
    lr = job.dm.config.lr * FACTOR
    trials = [_dm_dkkt(job.dm, job.teacher, job.term, x, y, w, lr=lr, restarts=RESTARTS - 1) for w in job.grid]
    for t in trials:
        t["history"]["guard"]["restarts"] += 1  # counted from the first attempt, as the guard would
    return trials, [False] * len(job.grid)


def _validation_score(trial: dict, job: ChosenDMDKKTJob, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on (``x``, ``y``) of a fresh network trained on a trial's set."""
    import torch.nn.functional as F

    from revis.distill.evaluation import train_on_set

    net = train_on_set(trial["images"], trial["labels"], job.image_shape, job.protocol, job.dm.seed)
    with torch.no_grad():
        logits = net(x)
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))
