"""One seed of the concept-pathway study, step by step (what the ``gig`` stages run per seed).

A seed fixes the whole chain: the trained network, the training images whose PFVs are sampled
and the sampling itself, the concept fitting (k-means, dictionary learning, sparse autoencoder, random
directions),
and the test images attributed and evaluated. Each step is a plain function of plain inputs so
that a stage can run its seeds on worker processes (``revis.workers.run_jobs``); tensors come
back on the CPU.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from revis.attribution.alignment import concept_alignment
from revis.attribution.concepts import DECOMPOSITIONS, ConceptBasis, fit_concept_bases
from revis.attribution.gig import ConceptProjection, Method
from revis.attribution.layered import layered, network_from_checkpoint
from revis.attribution.pathways import (
    built_up_targets,
    class_gig,
    completeness_sweep,
    concept_class_faithfulness,
    encode_layers,
    inter_layer_faithfulness,
    pair_gig,
    reconstruction_report,
)
from revis.attribution.pfv import layer_activations, sample_dataset_pfvs
from revis.attribution.rules import (
    class_pathways,
    class_presence,
    mask_association,
    pathway_precision,
    random_pathway_precision,
)
from revis.datasets.imageset import ImageSet
from revis.models import ModelConfig, build_model
from revis.training import TrainConfig, accuracy, train_classifier

CLASS_DECOMPOSITIONS = ("kmeans", "dictlearn", "sae")  # concept -> class GIG and C-deletion / C-insertion


def cpu(tree: Any) -> Any:
    """Tensors to the CPU (detached), numpy arrays and scalars to tensors and numbers, so that the
    results load with ``torch.load(weights_only=True)``."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(tree))
    if isinstance(tree, np.generic):
        return tree.item()
    if isinstance(tree, dict):
        return {key: cpu(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(cpu(value) for value in tree)
    return tree


def pairs(layers: list[str]) -> list[tuple[str, str]]:
    """Consecutive layers (a, b)."""
    return list(itertools.pairwise(layers))


def pair_key(a: str, b: str) -> str:
    return f"{a}_to_{b}"


def stratified_split(images: ImageSet, test_fraction: float, seed: int) -> dict[str, ImageSet]:
    """``{"train", "test"}``: per class a seeded ``test_fraction`` of its images (at least one) held out."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(images), dtype=bool)
    for label in np.unique(images.labels):
        members = np.nonzero(images.labels == label)[0]
        test[rng.permutation(members)[: max(1, round(len(members) * test_fraction))]] = True
    return {"train": images.subset(np.nonzero(~test)[0]), "test": images.subset(np.nonzero(test)[0])}


def attribution_subset(n_test: int, count: int, seed: int) -> np.ndarray:
    """A seeded, sorted draw of ``count`` test images (all of them when there are fewer)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, min(count, n_test), replace=False))


def train_network(
    images: dict[str, ImageSet],
    model: dict[str, Any],
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    normalize: list[list[float]] | None,
    source: str,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train the classifier of one seed (as built when ``epochs`` is 0); a self-describing checkpoint."""
    train_set, test_set = images["train"], images["test"]
    config = ModelConfig.model_validate(model)
    torch.manual_seed(seed)
    base = build_model(config, train_set.channels, train_set.num_classes, train_set.image_size)
    net = layered(base, None if normalize is None else (normalize[0], normalize[1]))
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if epochs > 0:
        x, y = train_set.tensors()
        tc = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr)
        history = train_classifier(net.model, x, y, tc, seed, device=device, desc=f"gig model seed {seed}").to_dict()
    return {
        "seed": seed,
        "model": config.model_dump(),
        "shape": [train_set.channels, train_set.num_classes, train_set.image_size],
        "state_dict": cpu(base.state_dict()),
        "normalize": normalize,
        "history": history,
        "source": source,
        "test_accuracy": accuracy(net.model.eval(), *test_set.tensors()),  # (moves the model to the CPU)
    }


def sample_pfvs(
    train: ImageSet,
    checkpoint: dict[str, Any],
    layers: list[str] | None,
    n_images: int,
    per_image: int,
    uniform_share: float,
    device: str = "cpu",
) -> dict[str, Any]:
    """Contribution-weighted PFVs of each layer over a draw of training images (seeded by the checkpoint's seed)."""
    seed = int(checkpoint["seed"])
    net = network_from_checkpoint(checkpoint, device)
    layers = layers or net.names
    unknown = sorted(set(layers) - set(net.names))
    if unknown:
        raise ValueError(f"gig.features.layers: {unknown} are not layers of the model (it has {net.names})")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(len(train), min(n_images, len(train)), replace=False))
    x = train.subset(index).tensors()[0].to(device)
    samples = sample_dataset_pfvs(net, x, per_image, seed, layers, uniform_share=uniform_share)
    for layer in layers:
        samples[layer]["origin"][:, 0] = torch.from_numpy(index)[samples[layer]["origin"][:, 0]]
    return {"seed": seed, "layers": list(layers), "samples": cpu(samples)}


def fit_layer(
    pfvs: torch.Tensor,
    ratio: float,
    lasso_alpha: float,
    seed: int,
    dictlearn_iter: int,
    positive: bool,
    sae_steps: int = 1000,
    sae_lr: float = 3e-3,
):
    """Every decomposition of one layer, serialised: ``{kind: basis.to_dict()}``."""
    bases = fit_concept_bases(pfvs.numpy(), ratio, lasso_alpha, seed, dictlearn_iter, positive, sae_steps, sae_lr)
    return {kind: basis.to_dict() for kind, basis in bases.items()}


def _bases(concepts: dict[str, Any], kind: str) -> dict[str, ConceptBasis]:
    return {layer: ConceptBasis.from_dict(concepts["bases"][layer][kind]) for layer in concepts["layers"]}


def attribute_seed(
    test: ImageSet,
    checkpoint: dict[str, Any],
    concepts: dict[str, Any],
    n_images: int,
    n_steps: int,
    method: Method,
    max_targets: int,
    steps_sweep: list[int],
    sweep_images: int,
    sweep_targets: int,
    internal_batch_size: int,
    device: str = "cpu",
) -> dict[str, Any]:
    """GIG of one seed on its test subset: coefficients of every decomposition, GIG between consecutive
    layers (k-means concepts, the most built-up layer-b targets) and to the predicted class (k-means,
    dictionary learning and the sparse autoencoder), with the one-point baselines and the completeness sweep over m."""
    seed = int(checkpoint["seed"])
    net = network_from_checkpoint(checkpoint, device)
    layers = concepts["layers"]
    index = attribution_subset(len(test), n_images, seed)
    x = test.subset(index).tensors()[0].to(device)
    with torch.no_grad():
        classes = net.model(x).argmax(1)
    out: dict[str, Any] = {"seed": seed, "layers": layers, "index": index, "classes": classes}
    bases = {kind: _bases(concepts, kind) for kind in DECOMPOSITIONS}
    out["coefficients"] = {kind: encode_layers(net, x, bases[kind])[1] for kind in DECOMPOSITIONS}
    ibs = internal_batch_size
    out["to_class"] = {
        kind: {
            a: class_gig(net, a, bases[kind][a], out["coefficients"][kind][a], classes, n_steps, method, ibs)
            for a in layers
        }
        for kind in CLASS_DECOMPOSITIONS
    }
    km, codes = bases["kmeans"], out["coefficients"]["kmeans"]
    out["pairs"], out["sweep"] = {}, {}
    n_sweep = min(sweep_images, len(x))
    for a, b in pairs(layers):
        targets = built_up_targets(net, a, b, km[a], km[b], codes[a], max_targets)
        out["pairs"][pair_key(a, b)] = pair_gig(net, a, b, km[a], km[b], codes[a], targets, n_steps, method, ibs)
        directions = km[b].tensor(x)[targets[:sweep_targets].to(x.device)]
        out["sweep"][pair_key(a, b)] = completeness_sweep(
            net, a, b, km[a], codes[a][:n_sweep], ConceptProjection(directions), steps_sweep, method, ibs
        )
    for a in layers:
        out["sweep"][pair_key(a, "class")] = completeness_sweep(
            net, a, None, km[a], codes[a][:n_sweep], classes[:n_sweep], steps_sweep, method, ibs
        )
    return cpu(out)


def evaluate_seed(
    test: ImageSet,
    checkpoint: dict[str, Any],
    concepts: dict[str, Any],
    pathway: dict[str, Any],
    targets_per_pair: int,
    curve_points: int | None,
    alignment_concepts: int,
    alignment_max_images: int,
    min_images: int,
    device: str = "cpu",
    rules: list[list[int]] | None = None,
    random_pathways: int = 20,
) -> dict[str, Any]:
    """One seed's faithfulness (inter-layer deletion/insertion per order, C-insertion - C-deletion per
    decomposition), reconstruction error per decomposition, and gradient-ERF alignment with the
    ground-truth concept masks (k-means against random concepts) where the images have masks; with
    ``rules`` (class -> its concepts) too, how well each class's GIG pathway recovers them (``pathway_rules``)."""
    seed = int(pathway["seed"])
    net = network_from_checkpoint(checkpoint, device)
    layers = pathway["layers"]
    subset = test.subset(pathway["index"].numpy())
    x = subset.tensors()[0].to(device)
    bases = {kind: _bases(concepts, kind) for kind in DECOMPOSITIONS}
    codes = {kind: {a: c.to(device) for a, c in pathway["coefficients"][kind].items()} for kind in DECOMPOSITIONS}
    classes = pathway["classes"].to(device)
    inter = {}
    for a, b in pairs(layers):
        key = pair_key(a, b)
        pair = {name: value.to(device) for name, value in pathway["pairs"][key].items()}
        inter[key] = inter_layer_faithfulness(
            net,
            a,
            b,
            bases["kmeans"][a],
            bases["kmeans"][b],
            codes["kmeans"][a],
            pair,
            targets_per_pair,
            seed,
            curve_points=curve_points,
        )
    to_class = {
        a: {
            kind: concept_class_faithfulness(
                net,
                a,
                bases[kind][a],
                codes[kind][a],
                pathway["to_class"][kind][a]["gig"].to(device),
                classes,
                curve_points=curve_points,
            )
            for kind in CLASS_DECOMPOSITIONS
        }
        for a in layers
    }
    acts = layer_activations(net, x, layers)
    reconstruction = {
        a: {kind: reconstruction_report(net, a, acts[a], bases[kind][a], codes[kind][a]) for kind in DECOMPOSITIONS}
        for a in layers
    }
    out: dict[str, Any] = {
        "seed": seed,
        "inter_layer": inter,
        "to_class": to_class,
        "reconstruction": reconstruction,
        "alignment": None,
    }
    if subset.concept_masks is not None:
        masks = torch.from_numpy(subset.concept_masks)
        generator = torch.Generator().manual_seed(seed)
        alignment: dict[str, Any] = {}
        for a in layers:
            k = bases["kmeans"][a].k
            chosen = torch.randperm(k, generator=generator)[: min(alignment_concepts, k)].sort().values
            alignment[a] = {
                kind: {
                    "concepts": chosen.tolist(),
                    **concept_alignment(
                        net.head(a),
                        x,
                        codes[kind][a],
                        bases[kind][a].tensor(x),
                        masks,
                        chosen,
                        alignment_max_images,
                        min_images,
                    ),
                }
                for kind in ("kmeans", "random")
            }
        out["alignment"] = alignment
        if rules is not None:
            out["pathway_rules"] = pathway_rules(pathway, codes["kmeans"], masks, rules, seed, random_pathways)
    return cpu(out)


def pathway_rules(
    pathway: dict[str, Any],
    codes: dict[str, torch.Tensor],
    masks: torch.Tensor,
    rules: list[list[int]],
    seed: int,
    draws: int,
) -> dict[str, dict[str, float]]:
    """Per block, precision@2 of the world concepts each class's pathway selects against the class's rule
    (``revis.attribution.rules``): the GIG pathway (the last block's class GIG, then inter-layer GIG links
    backwards), the same weights shuffled among the concepts present in the class's images (``random``), and
    the block's own class GIG without the links (``direct``)."""
    layers = pathway["layers"]
    classes = pathway["classes"].cpu().numpy()
    present = np.bincount(classes, minlength=len(rules)) > 0
    links = [
        (pathway["pairs"][pair_key(a, b)]["gig"].double().cpu().numpy(), pathway["pairs"][pair_key(a, b)]["targets"])
        for a, b in reversed(pairs(layers))
    ]
    last = pathway["to_class"]["kmeans"][layers[-1]]["gig"][:, 0].double().cpu().numpy()
    weights = dict(
        zip(
            reversed(layers), class_pathways(last, classes, [(s, t.numpy()) for s, t in links], len(rules)), strict=True
        )
    )
    out: dict[str, dict[str, float]] = {}
    for i, a in enumerate(layers):
        association = mask_association(codes[a].cpu(), masks)
        mass = codes[a].double().clamp_min(0).sum((0, 2, 3)).cpu().numpy()
        base = mass @ association / max(mass.sum(), 1e-12)
        direct = class_pathways(
            pathway["to_class"]["kmeans"][a]["gig"][:, 0].double().cpu().numpy(), classes, [], len(rules)
        )
        out[a] = {
            "gig": pathway_precision(weights[a], association, base, rules, present),
            "random": random_pathway_precision(
                weights[a],
                association,
                base,
                rules,
                present,
                draws,
                seed + 7 * i,
                class_presence(codes[a], classes, len(rules)),
            ),
            "direct": pathway_precision(direct[0], association, base, rules, present),
        }
    return out


@dataclass(frozen=True)
class FeaturesJob:
    """The features stage of one seed: how its network is trained and its PFVs sampled."""

    seed: int
    model: dict[str, Any]  # ModelConfig.model_dump()
    epochs: int
    batch_size: int
    lr: float
    normalize: list[list[float]] | None
    source: str
    layers: list[str] | None
    n_images: int
    per_image: int
    uniform_share: float
    device: str = "cpu"


def features_seed(images: dict[str, ImageSet], job: FeaturesJob) -> tuple[dict[str, Any], dict[str, Any]]:
    """The features stage of one seed: its network (``train_network``) and its PFVs (``sample_pfvs``)."""
    j = job
    checkpoint = train_network(images, j.model, j.epochs, j.batch_size, j.lr, j.seed, j.normalize, j.source, j.device)
    return checkpoint, sample_pfvs(
        images["train"], checkpoint, j.layers, j.n_images, j.per_image, j.uniform_share, j.device
    )


@dataclass(frozen=True)
class AttributeSettings:
    """GIG of one seed (``attribute_seed``'s keyword arguments)."""

    n_images: int
    n_steps: int
    method: Method
    max_targets: int
    steps_sweep: list[int]
    sweep_images: int
    sweep_targets: int
    internal_batch_size: int


@dataclass(frozen=True)
class AttributeJob:
    """The attribute stage of one seed: its checkpoint and PFVs, how concepts are fitted, how GIG runs."""

    checkpoint: dict[str, Any]
    pfvs: dict[str, Any]
    ratio: float
    lasso_alpha: float
    dictlearn_iter: int
    positive: bool
    attribute: AttributeSettings
    sae_steps: int = 1000
    sae_lr: float = 3e-3
    device: str = "cpu"


def attribute_chain(test: ImageSet, job: AttributeJob) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attribute stage of one seed: every layer's concept bases (``fit_layer``), then ``attribute_seed``
    with ``job.attribute``."""
    j, pfvs = job, job.pfvs
    seed = int(pfvs["seed"])
    concepts = {
        "seed": seed,
        "layers": pfvs["layers"],
        "bases": {
            layer: fit_layer(
                pfvs["samples"][layer]["pfvs"],
                j.ratio,
                j.lasso_alpha,
                seed,
                j.dictlearn_iter,
                j.positive,
                j.sae_steps,
                j.sae_lr,
            )
            for layer in pfvs["layers"]
        },
    }
    a = j.attribute
    pathway = attribute_seed(
        test,
        j.checkpoint,
        concepts,
        n_images=a.n_images,
        n_steps=a.n_steps,
        method=a.method,
        max_targets=a.max_targets,
        steps_sweep=a.steps_sweep,
        sweep_images=a.sweep_images,
        sweep_targets=a.sweep_targets,
        internal_batch_size=a.internal_batch_size,
        device=j.device,
    )
    return concepts, pathway


@dataclass(frozen=True)
class EvaluateJob:
    """The evaluate stage of one seed: its checkpoint, concepts and pathway, and how they are evaluated."""

    checkpoint: dict[str, Any]
    concepts: dict[str, Any]
    pathway: dict[str, Any]
    targets_per_pair: int
    curve_points: int | None
    alignment_concepts: int
    alignment_max_images: int
    min_images: int
    device: str = "cpu"
    rules: list[list[int]] | None = None  # class -> its concepts (the world's rules): pathway recovery


def evaluate_job(test: ImageSet, job: EvaluateJob) -> dict[str, Any]:
    """``evaluate_seed`` of one seed's job."""
    j = job
    return evaluate_seed(
        test,
        j.checkpoint,
        j.concepts,
        j.pathway,
        j.targets_per_pair,
        j.curve_points,
        j.alignment_concepts,
        j.alignment_max_images,
        j.min_images,
        j.device,
        j.rules,
    )
