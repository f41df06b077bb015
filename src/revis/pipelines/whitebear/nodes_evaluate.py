"""``whitebear-evaluate``: text representations, the attack and its defenses, cross-attention, the negation ablation."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from revis.diffusion.attention import CrossAttentionStore, record_cross_attention
from revis.diffusion.generate import generate
from revis.diffusion.pictures import sample_grid
from revis.diffusion.text import TextEncoder
from revis.negation.attention import attention_on_mask, attention_share, phrase_positions
from revis.negation.pictures import KIND_LABELS, attack_bars, attention_figure, similarity_heatmap
from revis.negation.prompts import DEFENSES, KINDS, Prompt, build_prompts
from revis.negation.representations import similarity_table
from revis.pipelines.whitebear.params import AttackParams, Pair, PromptParams, RepresentationParams, RuntimeParams
from revis.reporting.summary import mean_std, proportion
from revis.runtime import apply_runtime
from revis.workers import run_threads
from revis.world.captions import ABSTRACT_WORDS, OBJECT_NAMES
from revis.world.fidelity import judged_scene
from revis.world.judge import judge_images, judge_report, load_judge


def pair_key(pair: Pair) -> str:
    """A pair's name in metrics.json (characters MLflow accepts in metric names)."""
    return f"{pair.word}: {pair.object}"


def pair_prompts(prompts: PromptParams) -> dict[str, dict[str, Prompt]]:
    """``{"festive: blue square": {kind: Prompt}}`` for every configured pair."""
    out = {}
    for pair in prompts.pairs:
        if pair.object not in OBJECT_NAMES:
            raise ValueError(
                f"whitebear.prompts.pairs: object {pair.object!r} is not one the judge knows ({OBJECT_NAMES})"
            )
        if pair.definition is None and pair.word not in ABSTRACT_WORDS:
            raise ValueError(
                f"whitebear.prompts.pairs: {pair.word!r} has no definition (the world defines {list(ABSTRACT_WORDS)})"
            )
        definition = pair.definition or ABSTRACT_WORDS[pair.word].definition
        out[pair_key(pair)] = build_prompts(pair.word, pair.object, definition, pair.alternative, prompts.templates)
    return out


def analyse_representations(
    model: Any, representations: RepresentationParams, runtime: RuntimeParams
) -> dict[str, Any]:
    """Pooled and per-token cosine similarities of "S without X" / "S with X" / "S" with the frozen text encoder."""
    apply_runtime(runtime.device, runtime.threads)
    encoder = TextEncoder.from_components(model.text_encoder, model.tokenizer, model.config.text_encoder_name)
    table = similarity_table(
        encoder,
        representations.scenes,
        representations.objects or OBJECT_NAMES,
        representations.negations,
        representations.positive,
        representations.neutral,
    )
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in table.items()}


def _count(judge: Any, images: np.ndarray, prompt: Prompt, alternative: str) -> dict[str, int]:
    judged = judge_images(judge, images)
    word = ABSTRACT_WORDS.get(prompt.word)
    colour, shape = prompt.object.split()
    return {
        "x": int(judged.contains(prompt.object).sum()),
        "colour": int(judged.colours()[colour].sum()) if colour in judged.colours() else 0,
        "shape": int(judged.shapes()[shape].sum()) if shape in judged.shapes() else 0,
        "n": len(images),
        "word": int(sum(word.rule(judged_scene(found)) for found in judged.objects)) if word else 0,
        "alternative": int(judged.contains(alternative).sum()) if alternative in OBJECT_NAMES else 0,
    }


def models_by_seed(model: Any, replicates: dict[str, Any], seeds: list[int]) -> dict[int, Any]:
    """Whole-chain seeds: the t2i model trained with seed s, for every s of ``seeds``."""
    found = {m.config.get("seed"): m for m in [model, *replicates.values()]}
    missing = [s for s in seeds if s not in found]
    if missing:
        raise ValueError(
            f"whitebear.attack.seeds {missing} have no t2i model trained with that seed "
            f"(trained: {sorted(k for k in found if k is not None)}); add them to t2i.train.replicate_seeds"
        )
    return {s: found[s] for s in seeds}


def _draw(model: Any, prompts: list[tuple[str, str | None]], seeds: list[int], attack: AttackParams) -> dict:
    """``{(seed, text, negative): images}``: each (prompt, negative prompt) sampled with each seed on ``model``."""
    return {
        (seed, text, negative): generate(
            model,
            [text],
            negative,
            seed=seed,
            images_per_prompt=attack.images_per_prompt,
            steps=attack.steps,
            guidance_scale=attack.guidance_scale,
            batch_size=attack.batch_size,
        )
        for seed in seeds
        for text, negative in prompts
    }


def _distinct(prompts: list[Prompt]) -> list[tuple[str, str | None]]:
    """The (text, negative prompt) pairs to sample: base prompts shared by pairs of one word run once."""
    return sorted({(p.text, p.negative) for p in prompts}, key=lambda key: (key[0], key[1] or ""))


def run_attack(
    model: Any,
    replicates: dict[str, Any],
    judge_state: dict[str, Any],
    prompts: PromptParams,
    attack: AttackParams,
    runtime: RuntimeParams,
) -> dict[str, Any]:
    """Images of every prompt kind x pair x whole-chain seed, judged; a few kept for the grid.

    Seed s: the t2i model trained with seed s, sampled with seed s (the same noise for every prompt).
    The seeds' models sample concurrently, one thread each (``run_threads``).
    """
    device = apply_runtime(runtime.device, runtime.threads)
    judge = load_judge(judge_state)
    models = models_by_seed(model, replicates, attack.seeds)
    alternatives = {pair_key(p): p.alternative for p in prompts.pairs}
    by_pair = pair_prompts(prompts)
    distinct = _distinct([prompt for kinds in by_pair.values() for prompt in kinds.values()])
    drawn: dict[tuple[int, str, str | None], np.ndarray] = {}
    for images in run_threads(_draw, [(models[s], distinct, [s], attack) for s in attack.seeds], device):
        drawn.update(images)
    counts: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
    grid: dict[str, dict[str, np.ndarray]] = {}
    for pair, kinds in by_pair.items():
        for kind, prompt in kinds.items():
            for seed in attack.seeds:
                images = drawn[seed, prompt.text, prompt.negative]
                counts.setdefault(kind, {}).setdefault(pair, {})[str(seed)] = _count(
                    judge, images, prompt, alternatives[pair]
                )
                if seed == attack.seeds[0]:
                    grid.setdefault(pair, {})[kind] = images[: attack.grid_images]
    return {
        "counts": counts,
        "grid": grid,
        "prompts": {p: {k: v.__dict__ for k, v in ks.items()} for p, ks in by_pair.items()},
    }


def run_attention(
    model: Any, judge_state: dict[str, Any], prompts: PromptParams, attack: AttackParams, runtime: RuntimeParams
) -> dict[str, Any]:
    """Cross-attention of each attack prompt's tokens: share per token group, and its density on the drawn X."""
    apply_runtime(runtime.device, runtime.threads)
    judge = load_judge(judge_state)
    tokenizer = model.tokenizer
    results: dict[str, Any] = {"pairs": {}, "panels": []}
    for pair, kinds in pair_prompts(prompts).items():
        prompt = kinds["attack"]
        store = CrossAttentionStore()
        previous = record_cross_attention(model.unet, store)
        try:
            images = generate(
                model,
                [prompt.text],
                seed=attack.seeds[0],
                images_per_prompt=attack.attention_images,
                steps=attack.steps,
                guidance_scale=attack.guidance_scale,
                batch_size=attack.attention_images,
            )
        finally:
            model.unet.set_attn_processor(previous)
        size = images.shape[1]
        maps = store.maps(size)  # (B, L, H, W)
        ids = tokenizer(prompt.text)["input_ids"]
        groups = {
            "word": phrase_positions(ids, tokenizer(prompt.word, add_special_tokens=False)["input_ids"]),
            "without": phrase_positions(ids, tokenizer("without", add_special_tokens=False)["input_ids"]),
            "object": phrase_positions(ids, tokenizer(prompt.object, add_special_tokens=False)["input_ids"]),
        }
        judged = judge_images(judge, images, masks=True)
        drawn = np.stack(
            [
                np.any([o["mask"] for o in found if o["name"] == prompt.object], axis=0)
                if any(o["name"] == prompt.object for o in found)
                else np.zeros((size, size), dtype=bool)
                for found in judged.objects
            ]
        )
        shares = {name: attention_share(maps, pos) for name, pos in groups.items()}
        on_object = attention_on_mask(maps, groups["object"], drawn)
        results["pairs"][pair] = {
            "shares": {k: v.tolist() for k, v in shares.items()},
            "object_on_drawn": [None if np.isnan(v) else float(v) for v in on_object],
            "images_with_object": int(drawn.any(axis=(1, 2)).sum()),
            "tokens": {k: len(v) for k, v in groups.items()},
        }
        keep = min(3, len(images))
        panel_maps = {name: maps[:keep, pos].sum(1).numpy() for name, pos in groups.items() if pos}
        results["panels"].append({"prompt": prompt.text, "images": images[:keep], "maps": panel_maps})
    return results


def run_ablation(
    negation_model: Any,
    control_model: Any,
    judge_state: dict[str, Any],
    prompts: PromptParams,
    attack: AttackParams,
    runtime: RuntimeParams,
) -> dict[str, Any]:
    """Base and attack prompts on both fine-tuned arms (same seeds, same noise); one thread per arm."""
    device = apply_runtime(runtime.device, runtime.threads)
    judge = load_judge(judge_state)
    alternatives = {pair_key(p): p.alternative for p in prompts.pairs}
    chosen = {
        pair: {kind: kinds[kind] for kind in attack.ablation_kinds} for pair, kinds in pair_prompts(prompts).items()
    }
    distinct = _distinct([prompt for kinds in chosen.values() for prompt in kinds.values()])
    arms = {"negation": negation_model, "control": control_model}
    drawn = run_threads(_draw, [(m, distinct, attack.seeds, attack) for m in arms.values()], device)
    counts: dict[str, dict[str, dict[str, dict[str, dict[str, int]]]]] = {}
    for arm, images in zip(arms, drawn):
        for pair, kinds in chosen.items():
            for kind, prompt in kinds.items():
                for seed in attack.seeds:
                    counts.setdefault(arm, {}).setdefault(kind, {}).setdefault(pair, {})[str(seed)] = _count(
                        judge, images[seed, prompt.text, prompt.negative], prompt, alternatives[pair]
                    )
    return counts


def _pooled(by_pair: dict[str, dict[str, dict[str, int]]], field: str = "x") -> dict[str, Any]:
    hits = sum(c[field] for seeds in by_pair.values() for c in seeds.values())
    trials = sum(c["n"] for seeds in by_pair.values() for c in seeds.values())
    return proportion(hits, trials)


def _per_seed(by_pair: dict[str, dict[str, dict[str, int]]], seeds: list[int], field: str = "x") -> dict[str, Any]:
    rates = [
        sum(by_pair[p][str(s)].get(field, 0) for p in by_pair) / sum(by_pair[p][str(s)]["n"] for p in by_pair)
        for s in seeds
    ]
    return mean_std(rates, seeds)


def report(
    representations: dict[str, Any],
    attack_results: dict[str, Any],
    attention: dict[str, Any],
    ablation_counts: dict[str, Any],
    ablation_history: dict[str, Any],
    captions: dict[str, Any],
    judge_state: dict[str, Any],
    prompts: PromptParams,
    attack: AttackParams,
) -> tuple[dict[str, Any], plt.Figure, plt.Figure, plt.Figure, plt.Figure]:
    """metrics.json and the pictures: sample grid per prompt kind, attack bars, similarity heat map, attention maps."""
    judge = load_judge(judge_state)
    accuracy = judge_report(judge, captions["test"])
    objects = sorted(
        {p.object for p in prompts.pairs} | {p.alternative for p in prompts.pairs if p.alternative in OBJECT_NAMES}
    )
    judge_metrics = {name: {k: v for k, v in acc.items() if k != "per_object"} for name, acc in accuracy.items()}
    judge_metrics["objects"] = {o: accuracy["clean"]["per_object"][o] for o in objects}
    counts = attack_results["counts"]
    kinds = [k for k in KINDS if k in counts]
    rates = {kind: _pooled(counts[kind]) for kind in kinds}
    per_pair = {pair: {kind: _pooled({pair: counts[kind][pair]}) for kind in kinds} for pair in counts["attack"]}
    word_fidelity = {kind: _pooled(counts[kind], "word") for kind in kinds}
    colour_rates = {kind: _pooled(counts[kind], "colour") for kind in kinds}
    shape_rates = {kind: _pooled(counts[kind], "shape") for kind in kinds}
    points = 100.0
    defenses = {
        kind: {
            "change_points": points * (rates[kind]["rate"] - rates["attack"]["rate"]),
            # relative to the attack's own rate (a defence that removes 10 points of a 12 % attack is large)
            "relative_change": (rates[kind]["rate"] - rates["attack"]["rate"]) / max(rates["attack"]["rate"], 1e-9),
            "fidelity_cost_points": points * (word_fidelity["attack"]["rate"] - word_fidelity[kind]["rate"]),
        }
        for kind in DEFENSES
        if kind in rates
    }
    pooled_with = np.asarray(representations["pooled_with"]).ravel()
    pooled_alone = np.asarray(representations["pooled_alone"]).ravel()
    pooled_neutral = np.asarray(representations["pooled_neutral"]).ravel()
    items = list(range(len(pooled_with)))
    token = {k: np.asarray(representations[f"token_{k}"]).ravel() for k in ("same", "context", "other")}
    shares = {
        name: float(np.mean([v for pair in attention["pairs"].values() for v in pair["shares"][name]]))
        for name in ("word", "without", "object")
    }
    on_drawn = [v for pair in attention["pairs"].values() for v in pair["object_on_drawn"] if v is not None]
    ablation = {
        arm: {kind: _pooled(by_pair) for kind, by_pair in by_kind.items()} for arm, by_kind in ablation_counts.items()
    }
    n_images = attack.images_per_prompt
    metrics = {
        "scale": (
            f"the t2i model of this project (small UNet trained here on the 16 px caption world); "
            f"{len(attack.seeds)} whole-chain seeds (seed s: the model trained with seed s, sampled with seed s, the "
            f"same noise for every prompt); {len(prompts.pairs)} word/object pairs, {n_images} images per prompt and "
            f"seed; judge = the world's segmenter + blob classifier; ablation: {ablation_history.get('steps', '?')} "
            f"fine-tuning steps per arm from t2i.model, sampled with every seed"
        ),
        "judge": judge_metrics,
        "representations": {
            "pooled": {
                "with": mean_std(pooled_with, items),
                "alone": mean_std(pooled_alone, items),
                "neutral": mean_std(pooled_neutral, items),
            },
            "token": {k: mean_std(v, items) for k, v in token.items()},
            "items": len(items),
        },
        "attack": {
            "rates": rates,
            "colour_rates": colour_rates,
            "shape_rates": shape_rates,
            "per_pair": per_pair,
            "per_seed": {kind: _per_seed(counts[kind], attack.seeds) for kind in kinds},
            # X's colour and X's shape found separately (any object of that colour / shape), per seed
            "per_seed_colour": {kind: _per_seed(counts[kind], attack.seeds, "colour") for kind in kinds},
            "per_seed_shape": {kind: _per_seed(counts[kind], attack.seeds, "shape") for kind in kinds},
            "word_fidelity": word_fidelity,
            "alternative_found": _pooled(counts["alternative"], "alternative") if "alternative" in counts else None,
            "defenses": defenses,
        },
        "attention": {
            "share": shares,
            "object_on_drawn": {"mean": float(np.mean(on_drawn)) if on_drawn else None, "images": len(on_drawn)},
        },
        "ablation": ablation,
    }
    judge_note = (
        f"judge on held-out real scenes: exact object sets {judge_metrics['clean']['exact_set_accuracy']:.2f}, "
        f"labels {judge_metrics['clean']['label_accuracy']:.3f} (degraded: {judge_metrics['degraded']['exact_set_accuracy']:.2f}); "
        + ", ".join(
            f"{o}: recall {v['recall']:.2f} precision {v['precision']:.2f}" for o, v in judge_metrics["objects"].items()
        )
    )
    rows = [
        (
            f"{KIND_LABELS[kind].splitlines()[0]}: {attack_results['prompts'][pair][kind]['text']}"
            + (
                f"  [negative: {attack_results['prompts'][pair][kind]['negative']}]"
                if attack_results["prompts"][pair][kind]["negative"]
                else ""
            ),
            attack_results["grid"][pair][kind],
        )
        for pair in attack_results["grid"]
        for kind in kinds
    ]
    grid = sample_grid(rows, "whitebear samples per prompt kind (seed 0)")
    bars = attack_bars(rates, per_pair, ablation, judge_note)
    return metrics, grid, bars, similarity_heatmap(representations), attention_figure(attention["panels"])
