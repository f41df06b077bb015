"""Nodes of the ``gig`` pipeline (thin adapters over ``revis.attribution``)."""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from revis.attribution.alignment import alignment_tables, best_match
from revis.attribution.concepts import (
    ConceptBasis,
    bisecting_kmeans_concepts,
    concept_count,
    dictionary_learning_concepts,
    lasso_penalty,
    random_concepts,
    reconstruction_error,
)
from revis.attribution.erf import concept_erfs, pfv_erf
from revis.attribution.gig import ConceptProjection, GigResult
from revis.attribution.layered import LayeredNetwork, layered
from revis.attribution.pathways import (
    class_gig,
    completeness_sweep,
    concept_class_faithfulness,
    edge_weights,
    encode_layers,
    inter_layer_faithfulness,
    pair_gig,
    presence,
    reconstruction_report,
    top_targets,
)
from revis.attribution.pfv import sample_dataset_pfvs
from revis.attribution.pictures import (
    completeness_plot,
    concept_atlas,
    concept_graph,
    deletion_insertion_plot,
    erf_crop,
)
from revis.datasets.imagefolder import read_image_folder
from revis.datasets.imageset import ImageSet
from revis.models import ModelConfig, build_model
from revis.training import TrainConfig, accuracy, train_classifier

log = logging.getLogger(__name__)
DECOMPOSITIONS = ("kmeans", "dictlearn")


# --- helpers ------------------------------------------------------------------------------------
def _network(model: dict[str, Any], device: str = "cpu") -> LayeredNetwork:
    config = ModelConfig.model_validate({**model["model"], "weights": None})  # weights come from the state dict
    net = build_model(config, *model["shape"])
    net.load_state_dict(model["state_dict"])
    normalize = model.get("normalize")
    network = layered(net, None if normalize is None else (normalize[0], normalize[1]))
    network.model.to(device)
    return network


def _eval_images(images: dict[str, ImageSet], count: int, device: str = "cpu") -> tuple[ImageSet, torch.Tensor]:
    test = images["test"].subset(np.arange(min(count, len(images["test"]))))
    return test, test.tensors()[0].to(device)


def _cpu(tree: Any) -> Any:
    """Tensors to the CPU before they are persisted."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu()
    if isinstance(tree, dict):
        return {key: _cpu(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu(value) for value in tree)
    return tree


def _to(tree: Any, device: str) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.to(device)
    if isinstance(tree, dict):
        return {key: _to(value, device) for key, value in tree.items()}
    return tree


def _bases(concepts: dict[str, Any], kind: str) -> dict[str, ConceptBasis]:
    return {layer: ConceptBasis.from_dict(concepts["bases"][layer][kind]) for layer in concepts["layers"]}


def _pairs(layers: list[str]) -> list[tuple[str, str]]:
    return list(zip(layers[:-1], layers[1:]))


def _key(a: str, b: str) -> str:
    return f"{a}_to_{b}"


# --- features -----------------------------------------------------------------------------------
def select_images(shapes: dict[str, Any], data: dict[str, Any]) -> dict[str, ImageSet]:
    """The train/test images: the shapes world, or a split of an ImageNet-format folder."""
    if data["source"] == "shapes":
        return {"train": shapes["train"], "test": shapes["test"]}
    full = read_image_folder(data["root"], data["image_size"], data["per_class"], data["seed"])
    rng = np.random.default_rng(data["seed"])
    test = np.zeros(len(full), dtype=bool)
    for label in np.unique(full.labels):  # stratified hold-out
        members = np.nonzero(full.labels == label)[0]
        test[rng.permutation(members)[: max(1, round(len(members) * data["test_fraction"]))]] = True
    return {"train": full.subset(np.nonzero(~test)[0]), "test": full.subset(np.nonzero(test)[0])}


def train_model(
    images: dict[str, ImageSet], train: dict[str, Any], data: dict[str, Any], device: str
) -> dict[str, Any]:
    """Train the classifier (or take it as built/loaded when epochs is 0); a self-describing checkpoint."""
    train_set, test_set = images["train"], images["test"]
    config = ModelConfig.model_validate(train["model"])
    torch.manual_seed(train["seed"])
    base = build_model(config, train_set.channels, train_set.num_classes, train_set.image_size)
    normalize = data.get("normalize")
    net = layered(base, None if normalize is None else (normalize[0], normalize[1]))
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if train["epochs"] > 0:
        x, y = train_set.tensors()
        tc = TrainConfig(epochs=train["epochs"], batch_size=train["batch_size"], lr=train["lr"])
        history = train_classifier(net.model, x, y, tc, train["seed"], device=device, desc="gig model").to_dict()
    return {
        "model": config.model_dump(),
        "shape": [train_set.channels, train_set.num_classes, train_set.image_size],
        "state_dict": _cpu(base.state_dict()),
        "normalize": normalize,
        "history": history,
        "source": data["source"],
        "test_accuracy": accuracy(net.model.eval(), *test_set.tensors()),  # (moves the model to the CPU)
    }


def sample_features(
    model: dict[str, Any], images: dict[str, ImageSet], features: dict[str, Any], device: str
) -> dict[str, Any]:
    """Contribution-weighted PFVs of each layer over a seeded draw of training images."""
    net = _network(model, device)
    layers = features["layers"] or net.names
    unknown = sorted(set(layers) - set(net.names))
    if unknown:
        raise ValueError(f"gig.features.layers: {unknown} are not layers of the model (it has {net.names})")
    train = images["train"]
    rng = np.random.default_rng(features["seed"])
    index = np.sort(rng.choice(len(train), min(features["n_images"], len(train)), replace=False))
    x = train.subset(index).tensors()[0].to(device)
    samples = sample_dataset_pfvs(
        net, x, features["per_image"], features["seed"], layers, uniform_share=features["uniform_share"]
    )
    for layer in layers:
        samples[layer]["origin"][:, 0] = torch.from_numpy(index)[samples[layer]["origin"][:, 0]]
    return {"layers": list(layers), "samples": _cpu(samples)}


# --- attribute ----------------------------------------------------------------------------------
def fit_concepts(pfvs: dict[str, Any], concepts: dict[str, Any]) -> dict[str, Any]:
    """Per layer: bisecting k-means, dictionary learning and random concept vectors; one Lasso lam."""
    out: dict[str, Any] = {"layers": pfvs["layers"], "bases": {}, "fit_error": {}}
    for layer in pfvs["layers"]:
        x = pfvs["samples"][layer]["pfvs"].numpy()
        k = concept_count(x.shape[1], concepts["ratio"], len(x))
        lam = lasso_penalty(x, concepts["lasso_alpha"])
        vectors = {
            "kmeans": bisecting_kmeans_concepts(x, k, concepts["seed"]),
            "dictlearn": dictionary_learning_concepts(
                x, k, lam, concepts["seed"], concepts["dictlearn_iter"], concepts["positive"]
            ),
            "random": random_concepts(x.shape[1], k, concepts["seed"], concepts["positive"]),
        }
        bases = {name: ConceptBasis(v, lam, concepts["positive"]) for name, v in vectors.items()}
        out["bases"][layer] = {name: basis.to_dict() for name, basis in bases.items()}
        out["fit_error"][layer] = {
            name: reconstruction_error(x, basis.encode(x) @ basis.vectors) for name, basis in bases.items()
        }
        log.info("gig concepts %s: k=%d lam=%.4g fit error %s", layer, k, lam, out["fit_error"][layer])
    return out


def attribute_pathways(
    model: dict[str, Any], images: dict[str, ImageSet], concepts: dict[str, Any], attribute: dict[str, Any], device: str
) -> dict[str, Any]:
    """GIG between consecutive layers (k-means concepts) and from each layer to the predicted class
    (both decompositions), with the plain-gradient baselines and the completeness sweep over m."""
    net = _network(model, device)
    layers = concepts["layers"]
    _, x = _eval_images(images, attribute["n_images"], device)
    with torch.no_grad():
        classes = net.model(x).argmax(1)
    steps, method, ibs = attribute["n_steps"], attribute["method"], attribute["internal_batch_size"]
    out: dict[str, Any] = {
        "layers": layers,
        "classes": classes,
        "coefficients": {},
        "pairs": {},
        "to_class": {},
        "sweep": {},
    }
    bases = {kind: _bases(concepts, kind) for kind in DECOMPOSITIONS}
    for kind in DECOMPOSITIONS:
        _, coefficients = encode_layers(net, x, bases[kind])
        out["coefficients"][kind] = coefficients
        out["to_class"][kind] = {
            a: class_gig(net, a, bases[kind][a], coefficients[a], classes, steps, method, ibs) for a in layers
        }
    coefficients = out["coefficients"]["kmeans"]
    km = bases["kmeans"]
    for a, b in _pairs(layers):
        targets = top_targets(coefficients[b], attribute.get("max_targets") or km[b].k)
        out["pairs"][_key(a, b)] = pair_gig(net, a, b, km[a], km[b], coefficients[a], targets, steps, method, ibs)
    n_sweep = min(attribute["sweep_images"], len(x))
    for a, b in _pairs(layers):
        sweep_targets = out["pairs"][_key(a, b)]["targets"][: attribute["sweep_targets"]]
        target_vectors = km[b].tensor(x)[sweep_targets]
        out["sweep"][_key(a, b)] = completeness_sweep(
            net,
            a,
            b,
            km[a],
            coefficients[a][:n_sweep],
            ConceptProjection(target_vectors),
            attribute["steps_sweep"],
            method,
            ibs,
        )
    for a in layers:
        out["sweep"][_key(a, "class")] = completeness_sweep(
            net, a, None, km[a], coefficients[a][:n_sweep], classes[:n_sweep], attribute["steps_sweep"], method, ibs
        )
    return _cpu(out)


# --- evaluate -----------------------------------------------------------------------------------
def _gap(result: dict[str, torch.Tensor]) -> float:
    return GigResult(
        scores=result["gig"], delta=result["delta"], full=result["full"], zero=result["zero"]
    ).relative_gap()


def evaluate_faithfulness(
    model: dict[str, Any],
    images: dict[str, ImageSet],
    concepts: dict[str, Any],
    pathways: dict[str, Any],
    evaluate: dict[str, Any],
    device: str,
) -> dict[str, Any]:
    """Inter-layer deletion/insertion per order, C-insertion - C-deletion per decomposition, reconstruction."""
    net = _network(model, device)
    pathways = _to(pathways, device)
    layers = pathways["layers"]
    bases = {kind: _bases(concepts, kind) for kind in (*DECOMPOSITIONS, "random")}
    coefficients = pathways["coefficients"]
    inter = {}
    for a, b in _pairs(layers):
        inter[_key(a, b)] = inter_layer_faithfulness(
            net,
            a,
            b,
            bases["kmeans"][a],
            bases["kmeans"][b],
            coefficients["kmeans"][a],
            pathways["pairs"][_key(a, b)],
            evaluate["targets_per_pair"],
            evaluate["seed"],
        )
    to_class = {
        a: {
            kind: concept_class_faithfulness(
                net, a, bases[kind][a], coefficients[kind][a], pathways["to_class"][kind][a]["gig"], pathways["classes"]
            )
            for kind in DECOMPOSITIONS
        }
        for a in layers
    }
    _, x = _eval_images(images, len(pathways["classes"]), device)
    acts, random_codes = encode_layers(net, x, bases["random"])
    codes = {**coefficients, "random": random_codes}
    reconstruction = {
        a: {
            kind: reconstruction_report(net, a, acts[a], bases[kind][a], codes[kind][a])
            for kind in (*DECOMPOSITIONS, "random")
        }
        for a in layers
    }
    return _cpu({"inter_layer": inter, "to_class": to_class, "reconstruction": reconstruction})


def encode_alignment_images(
    model: dict[str, Any], images: dict[str, ImageSet], concepts: dict[str, Any], evaluate: dict[str, Any], device: str
) -> dict[str, Any]:
    """Coefficient maps of k-means and random concepts on the test images used for ERFs."""
    net = _network(model, device)
    test, x = _eval_images(images, evaluate["alignment_images"], device)
    codes = {kind: encode_layers(net, x, _bases(concepts, kind))[1] for kind in ("kmeans", "random")}
    return {"index": np.arange(len(test)), "coefficients": codes}


def evaluate_alignment(
    model: dict[str, Any],
    images: dict[str, ImageSet],
    concepts: dict[str, Any],
    codes: dict[str, Any],
    evaluate: dict[str, Any],
    device: str,
) -> dict[str, Any]:
    """Gradient-ERF alignment of k-means concepts with the ground-truth masks, against random concepts."""
    test = images["test"].subset(codes["index"])
    if test.concept_masks is None:
        return {"available": False}
    net = _network(model, device)
    x = test.tensors()[0].to(device)
    masks = torch.from_numpy(test.concept_masks)
    out: dict[str, Any] = {"available": True, "concept_names": list(test.concept_names), "layers": {}}
    for layer in concepts["layers"]:
        out["layers"][layer] = {}
        for kind in ("kmeans", "random"):
            basis = ConceptBasis.from_dict(concepts["bases"][layer][kind])
            coefficients = codes["coefficients"][kind][layer]
            erfs = concept_erfs(net.head(layer), x, coefficients, basis.tensor(x)).cpu()
            mass = presence(coefficients).cpu()
            active = (mass > 0) & (mass >= 0.1 * mass.max(0).values)  # where the concept really shows
            iou, point, count = alignment_tables(erfs, active, masks)
            out["layers"][layer][kind] = best_match(iou, point, count, evaluate["min_images"])
    return out


def _importance(pathways: dict[str, Any], layer: str) -> torch.Tensor:
    """Dataset-wide importance of each k-means concept: mean |GIG| to the predicted class."""
    return pathways["to_class"]["kmeans"][layer]["gig"][:, 0].abs().mean(0)


def _concept_label(layer: str, q: int, alignment: dict[str, Any]) -> str:
    if not alignment.get("available"):
        return f"c{q}"
    match = alignment["layers"][layer]["kmeans"]
    g, iou = match["match"][q], match["iou"][q]
    return f"c{q}" if g < 0 else f"c{q} {alignment['concept_names'][g]} {iou:.2f}"


def draw_concept_atlas(
    model: dict[str, Any],
    images: dict[str, ImageSet],
    concepts: dict[str, Any],
    pathways: dict[str, Any],
    codes: dict[str, Any],
    alignment: dict[str, Any],
    evaluate: dict[str, Any],
    device: str,
) -> plt.Figure:
    """Per layer, the most important concepts and the gradient-ERF crops of their strongest PFVs."""
    net = _network(model, device)
    test = images["test"].subset(codes["index"])
    x = test.tensors()[0].to(device)
    groups: dict[str, list[dict]] = {}
    for layer in concepts["layers"]:
        rows = groups.setdefault(layer, [])
        basis = ConceptBasis.from_dict(concepts["bases"][layer]["kmeans"])
        coefficients = codes["coefficients"]["kmeans"][layer].cpu()
        order = torch.argsort(_importance(pathways, layer), descending=True)[: evaluate["atlas_concepts"]]
        for q in order.tolist():
            per_image = coefficients[:, q].flatten(1)
            value, flat = per_image.max(1)  # one crop per image: its strongest position
            chosen = torch.argsort(value, descending=True)[: evaluate["atlas_crops"]]
            chosen = chosen[value[chosen] > 0]
            crops = []
            if len(chosen):
                w = coefficients.shape[-1]
                positions = torch.stack([flat[chosen] // w, flat[chosen] % w], dim=1)
                erf = pfv_erf(net.head(layer), x[chosen.to(x.device)], positions.to(x.device), basis.tensor(x)[q]).cpu()
                crops = [erf_crop(test.images[i], e.numpy()) for i, e in zip(chosen.tolist(), erf)]
            rows.append({"label": _concept_label(layer, q, alignment), "crops": crops})
    return concept_atlas(
        groups,
        "concept atlas: most important concepts per layer (mean |GIG| to the class), "
        "gradient-ERF crops of their strongest PFVs; label: best-matching ground-truth "
        "concept and its IoU",
    )


def draw_concept_graph(
    images: dict[str, ImageSet], pathways: dict[str, Any], alignment: dict[str, Any], evaluate: dict[str, Any]
) -> plt.Figure:
    """Layer-to-layer concept graph; edges are dataset-wide mean GIG, strongest per target node."""
    layers = pathways["layers"]
    n_nodes, n_edges = evaluate["graph_nodes"], evaluate["graph_edges"]
    shown = {a: torch.argsort(_importance(pathways, a), descending=True)[:n_nodes].tolist() for a in layers}
    labels = {a: [_concept_label(a, q, alignment) for q in shown[a]] for a in layers}
    edges = []
    for a, b in _pairs(layers):
        pair = pathways["pairs"][_key(a, b)]
        weights = edge_weights(pair["gig"])  # (T, k_a)
        for t, r in enumerate(pair["targets"].tolist()):
            if r not in shown[b]:
                continue
            sources = [q for q in np.argsort(-np.abs(weights[t])) if q in shown[a]][:n_edges]
            edges += [(a, shown[a].index(int(q)), b, shown[b].index(r), float(weights[t, q])) for q in sources]
    last, classes = layers[-1], pathways["classes"]
    scores = pathways["to_class"]["kmeans"][last]["gig"][:, 0]  # (N, k)
    counts = torch.bincount(classes, minlength=images["test"].num_classes)
    class_ids = torch.argsort(counts, descending=True)[:n_nodes]
    class_ids = [int(c) for c in class_ids if counts[c] > 0]
    for j, c in enumerate(class_ids):
        weights = scores[classes == c].double().mean(0).numpy()
        sources = [q for q in np.argsort(-np.abs(weights)) if q in shown[last]][:n_edges]
        edges += [(last, shown[last].index(int(q)), "classes", j, float(weights[q])) for q in sources]
    names = [images["test"].class_names[c] for c in class_ids]
    return concept_graph(
        layers,
        labels,
        edges,
        names,
        f"concept pathway: top-{n_edges} incoming GIG edges per node (red +, blue -), "
        "dataset-wide means over the test images",
    )


def draw_completeness(pathways: dict[str, Any]) -> plt.Figure:
    """Relative completeness gap against the number of Riemann steps, per path."""
    return completeness_plot(
        pathways["sweep"], "GIG completeness: |sum GIG - (g(F(X~)) - g(F(0)))| / |g(F(X~)) - g(F(0))|"
    )


def draw_deletion_insertion(faithfulness: dict[str, Any]) -> plt.Figure:
    """Mean normalised inter-layer deletion and insertion curves per concept order."""
    curves = {pair: result["curves"] for pair, result in faithfulness["inter_layer"].items()}
    return deletion_insertion_plot(curves, "inter-layer deletion (lower is better) and insertion (higher is better)")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(
    model: dict[str, Any],
    concepts: dict[str, Any],
    pathways: dict[str, Any],
    faithfulness: dict[str, Any],
    alignment: dict[str, Any],
    attribute: dict[str, Any],
) -> dict[str, Any]:
    """reports/gig/metrics.json."""
    layers = pathways["layers"]
    keys = [_key(a, b) for a, b in _pairs(layers)] + [_key(a, "class") for a in layers]
    at_default = {_key(a, b): _gap(pathways["pairs"][_key(a, b)]) for a, b in _pairs(layers)}
    at_default |= {_key(a, "class"): _gap(pathways["to_class"]["kmeans"][a]) for a in layers}
    # the last layer's head is affine (pooling + linear): GIG is exact there, reported but not averaged
    nonlinear = keys[:-1]
    at_default["average"] = _mean([at_default[k] for k in nonlinear])
    sweep = {key: {f"m{m}": gap for m, gap in pathways["sweep"][key].items()} for key in keys}
    steps = attribute["steps_sweep"]
    sweep["average"] = {f"m{m}": _mean([sweep[key][f"m{m}"] for key in nonlinear]) for m in steps}
    inter = {
        pair: {**result["summary"], "gig_win_rate": result["gig_win_rate"]}
        for pair, result in faithfulness["inter_layer"].items()
    }
    orders = sorted({o for result in faithfulness["inter_layer"].values() for o in result["summary"]})
    inter["average"] = {
        o: {
            m: _mean([r["summary"][o][m] for r in faithfulness["inter_layer"].values() if o in r["summary"]])
            for m in ("deletion", "insertion", "ins_minus_del")
        }
        for o in orders
    }
    to_class = {a: faithfulness["to_class"][a] for a in layers}
    to_class["average"] = {
        kind: _mean([faithfulness["to_class"][a][kind]["ins_minus_del"] for a in layers]) for kind in DECOMPOSITIONS
    }
    # error on every position of the test images, and on the sampled PFVs the concepts were fitted to
    recon = {
        a: {
            kind: {**faithfulness["reconstruction"][a][kind], "fit_error": concepts["fit_error"][a][kind]}
            for kind in faithfulness["reconstruction"][a]
        }
        for a in layers
    }
    recon["average"] = {kind: _mean([recon[a][kind]["error"] for a in layers]) for kind in (*DECOMPOSITIONS, "random")}
    metrics: dict[str, Any] = {
        "model": {
            "test_accuracy": model["test_accuracy"],
            "concepts_per_layer": {a: len(concepts["bases"][a]["kmeans"]["vectors"]) for a in layers},
        },
        "completeness": {"at_default_steps": at_default, "sweep": sweep},
        "inter_layer": inter,
        "concept_to_class": to_class,
        "reconstruction": recon,
    }
    if alignment.get("available"):
        align = {
            a: {
                kind: {"iou": r["mean_iou"], "pointing": r["mean_pointing"], "n_concepts": r["n_concepts"]}
                for kind, r in alignment["layers"][a].items()
            }
            for a in layers
        }
        align["average"] = {
            kind: {m: _mean([align[a][kind][m] for a in layers]) for m in ("iou", "pointing")}
            for kind in ("kmeans", "random")
        }
        metrics["alignment"] = align
    m = model["model"]
    arch = f"{m['name']} w{m['width']} d{m['depth']} {m['norm']}" if m["name"] == "convnet" else m["name"]
    ks = sorted(set(metrics["model"]["concepts_per_layer"].values()))
    where = "mini world CPU: shapes" if model.get("source", "shapes") == "shapes" else "ImageNet-format folder"
    metrics["scale"] = (
        f"{where}; {arch}; {len(layers)} layers, k={'/'.join(map(str, ks))} "
        f"concepts per layer; GIG on {len(pathways['classes'])} test images, "
        f"m={attribute['n_steps']} {attribute['method']}"
    )
    return metrics
