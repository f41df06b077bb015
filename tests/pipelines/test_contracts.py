"""Contracts every pipeline keeps, parametrized over the pipelines the registry discovers.

- bad parameters: a wrong value anywhere in a pipeline's params section fails validation (what
  ``kedro check-params`` runs) with a message naming the dotted key;
- stage kinds: every node carries exactly one stage-kind tag, and dvc.yaml has exactly one stage
  per (pipeline, kind) with the parameters the kind's nodes read;
- catalog round trip: every dataset type in ``conf/base/catalog*.yml`` saves a small value of the
  kind it holds and loads it back; revis' own types write atomically;
- metrics schema: every committed ``reports/<p>/metrics.json`` has a ``scale``, only finite
  numbers, and consistent mean/std summaries;
- thin nodes: node bodies of at most 40 lines, no ``model_validate`` in a node module, and the
  node that writes ``<p>.metrics`` is ``report_metrics``.

Nothing here lists the pipelines: a new pipeline is covered when it is registered.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import json
import math
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import revis.pipelines
from revis.config.schema import ParameterError, section_models, validate_params
from revis.dvc_stages import CHECK_STAGE, STAGE_KINDS, stage_command

REPO = Path(__file__).resolve().parents[2]
MAX_NODE_BODY_LINES = 40
METRICS_NODE = "report_metrics"


def pipeline_names() -> list[str]:
    """The packages under ``revis.pipelines`` with a ``create_pipeline`` (what Kedro's find_pipelines registers)."""
    names = []
    for info in pkgutil.iter_modules(revis.pipelines.__path__):
        if info.ispkg and hasattr(importlib.import_module(f"revis.pipelines.{info.name}"), "create_pipeline"):
            names.append(info.name)
    return sorted(names)


PIPELINES = pipeline_names()
SECTIONS = sorted(set(section_models()) - {"runtime"})


@functools.cache
def created(name: str) -> Any:
    return importlib.import_module(f"revis.pipelines.{name}").create_pipeline()


def committed_params() -> dict[str, Any]:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_discovery_finds_what_the_registry_registers():
    from kedro.framework.project import configure_project

    from revis.pipeline_registry import register_pipelines

    configure_project("revis")
    assert set(register_pipelines()) - {"__default__"} == set(PIPELINES)
    assert len(PIPELINES) >= 15


def test_every_section_is_a_pipeline_and_is_in_params_yaml():
    assert set(SECTIONS) <= set(PIPELINES)
    assert set(committed_params()) == {*SECTIONS, "runtime"}


# --- (a) bad parameters ---------------------------------------------------------------------------------


def _nodes(tree: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, tree
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _nodes(value, (*path, key))
        else:
            yield (*path, key), value


def _set(params: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    params = copy.deepcopy(params)
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return params


def _wrong_type(value: Any) -> Any:
    """A value of a type the key cannot hold: a mapping for a scalar, a string for a list."""
    return "not-a-list" if isinstance(value, list) else {"wrong": "type"}


def _rejection(params: dict[str, Any], key: str) -> str | None:
    """None when validation fails naming ``key`` (or a key below it); else what happened instead."""
    try:
        validate_params(params)
    except ParameterError as exc:
        if re.search(f"'{re.escape(key)}[.']", str(exc)):
            return None
        return f"rejected without naming it: {str(exc)[:300]}"
    return "accepted"


@pytest.mark.parametrize("section", SECTIONS)
def test_a_wrong_value_anywhere_in_the_section_is_rejected_naming_its_key(section, monkeypatch):
    """Every key of the committed section: a value of the wrong type, and an unknown key in every mapping."""
    monkeypatch.setattr("revis.config.types.cuda_available", lambda: False)
    params = committed_params()
    problems = []
    for path, value in _nodes(params[section], (section,)):
        cases = [((*path, "no_such_key"), 1)] if isinstance(value, dict) else [(path, _wrong_type(value))]
        for where, wrong in cases:
            key = ".".join(where)
            outcome = _rejection(_set(params, where, wrong), key)
            if outcome is not None:
                problems.append(f"{key} = {wrong!r}: {outcome}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("section", [s for s in SECTIONS if "seeds" in committed_params()[s]])
def test_a_repeated_seed_is_rejected_naming_the_key(section):
    """``<paper>.seeds`` (CONTRIBUTING: one seeds convention) are distinct: a repeat would count one chain twice."""
    params = committed_params()
    seeds = params[section]["seeds"]
    lists = {(ds,): value for ds, value in seeds.items()} if isinstance(seeds, dict) else {(): seeds}
    for where, values in lists.items():
        path = (section, "seeds", *where)
        repeated = [*values, values[0]]
        assert _rejection(_set(params, path, repeated), ".".join(path)) is None, f"{'.'.join(path)} = {repeated}"


@pytest.mark.parametrize("section", SECTIONS)
def test_sizes_are_bounded_and_not_negative(section):
    """Every integer of the section (seeds excepted) refuses -1 and 10**9, naming its key (CONTRIBUTING: bounds)."""
    params = committed_params()
    problems = []
    for path, value in _nodes(params[section], (section,)):
        if type(value) is not int or "seed" in path[-1]:
            continue
        key = ".".join(path)
        for wrong in (-1, 10**9):
            outcome = _rejection(_set(params, path, wrong), key)
            if outcome is not None:
                problems.append(f"{key} = {wrong}: {outcome}")
    assert not problems, "\n".join(problems)


# Values that are of the right type but cannot run (cross-field rules, registries, duplicates), collected
# from the pipelines' tests: (dotted key, value, what the message must contain).
CANNOT_RUN = [
    ("world.detection.class_frequencies", [0.4, 0.3, 0.2, 0.1, -0.1], "'world.detection.class_frequencies.4'"),
    ("world.detection.class_frequencies", [0.4, 0.3, 0.2, 0.1, 0.0], "'world.detection.class_frequencies.4'"),
    ("world.detection.n_families", 40_000, "GiB"),  # within the count bound, but ~23 GiB of scenes
    ("world.detection.image_size", 4096, "'world.detection.image_size'"),
    ("world.detection.objects_per_scene", [2, 500], "'world.detection'"),
    ("world.detection.radius", [8.0, 200.0], "'world.detection'"),
    ("world.detection.family_size", [0, 4], "'world.detection'"),
    ("csod.select.methods", ["random", "herding"], "'csod.select.methods.1'"),
    ("csod.select.methods", ["csod"], "'csod.select'"),
    ("csod.select.budgets", [10, 10], "'csod.select.budgets'"),
    ("csod.seeds", [0, 0], "'csod.seeds'"),
    ("csod.features.layer", "fpn_p9", "'csod.features.layer'"),
    ("csod.yolo.model", "yolov8n.pt", "'csod.yolo.model'"),
    ("csod.yolo.model", "yolov99n.yaml", "'csod.yolo.model'"),  # ultralytics has no such yaml
    ("csod.yolo.model", "resnet50.yaml", "'csod.yolo.model'"),
    ("csod.yolo.imgsz", 100, "'csod.yolo.imgsz'"),
    ("csod.select.csod.reduction", "median", "'csod.select.csod.reduction'"),
    ("csod.data.voc_root", "/data/VOCdevkit", "'csod.data'"),  # world split names are not '<year>/<split>'
    ("lada.train.arms", ["source_only", "mean_teacher_1"], "'lada.train.arms.1'"),
    ("lada.train.schedule.burn_in", 10_000, "'lada.train.schedule'"),
    ("lada.train.detector.coord_layers", [0, 11], "'lada.train.detector'"),
    ("lada.train.detector.model", "yolov8n.pt", "'lada.train.detector.model'"),
    ("lada.train.teacher.alpha", 1.0, "'lada.train.teacher.alpha'"),
    ("lada.world.parts", [3, 2], "'lada.world.parts'"),
    ("lada.data.release_images", "/data/figlib", "'lada.data'"),
    ("merlin.evaluate.noise", [0.2], "'merlin.evaluate'"),
    ("merlin.evaluate.questioners", ["llm"], "'merlin.evaluate'"),
    ("merlin.features.pooling", "max", "'merlin.features.pooling'"),
    ("merlin.evaluate.alpha", 1.5, "'merlin.evaluate.alpha'"),
    ("orthoemb.fixes.basis_tokens", "everything", "'orthoemb.fixes.basis_tokens'"),
    ("orthoemb.fixes.swap_end_step", 1, "'orthoemb.fixes'"),
    ("orthoemb.evaluate.arms", ["text", "full"], "'orthoemb.evaluate'"),
    ("t2i.world.image_size", 4, "'t2i.world.image_size'"),
    ("t2i.world.radius", [0.2, 0.4], "'t2i.world'"),
    ("t2i.train.unet.attention", [True], "'t2i.train.unet'"),
    ("t2i.train.sampler", "euler", "'t2i.train.sampler'"),
    ("t2i.evaluate.guidance_scale", 0.5, "'t2i.evaluate.guidance_scale'"),
    ("whitebear.prompts.pairs", [], "'whitebear.prompts.pairs'"),
    ("whitebear.prompts.templates", {"attak": "{word}"}, "'whitebear.prompts'"),
    ("whitebear.attack.ablation_kinds", ["define"], "'whitebear.attack.ablation_kinds.0'"),
    ("whitebear.ablation.negation_fraction", 1.0, "'whitebear.ablation.negation_fraction'"),
    ("hlclip.evaluate.windows", [1, 2], "'hlclip.evaluate.windows'"),
    ("vl.encoder.kind", "clip", "'vl.encoder'"),  # clip without clip_path
    ("vl.encoder.image.name", "resnet18", "'vl.encoder.image.name'"),
    ("videos.clips", [2, 10], "'videos'"),
    ("videos.split_fractions", [0.5, 0.2, 0.2], "'videos'"),
]


@pytest.mark.parametrize(("key", "value", "named"), CANNOT_RUN, ids=[f"{c[0]}={c[1]!r}" for c in CANNOT_RUN])
def test_a_value_that_cannot_run_is_rejected_naming_its_key(key, value, named, monkeypatch):
    monkeypatch.setattr("revis.config.types.cuda_available", lambda: False)
    params = committed_params()
    path = tuple(key.split("."))
    parent = params
    for part in path[:-1]:
        parent = parent.get(part, {})
    assert path[-1] in parent, f"{key} is not in params.yaml: move this case to where the key went"
    with pytest.raises(ParameterError) as info:
        validate_params(_set(params, path, value))
    assert named in str(info.value)


# --- (b) stage kinds ------------------------------------------------------------------------------------


@functools.cache
def dvc_stages() -> dict[str, Any]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", PIPELINES)
def test_every_node_has_one_stage_kind_and_dvc_yaml_has_one_stage_per_kind(name):
    params_by_kind: dict[str, set[str]] = {}
    for node in created(name).nodes:
        kinds = [tag for tag in node.tags if tag in STAGE_KINDS]
        assert len(kinds) == 1, f"{node.name} has stage kinds {kinds}; it needs exactly one of {STAGE_KINDS}"
        read = {i.removeprefix("params:") for i in node.inputs if i.startswith("params:")}
        params_by_kind.setdefault(kinds[0], set()).update(read)
    stages = {s: spec for s, spec in dvc_stages().items() if s.startswith(f"{name}-") and s != CHECK_STAGE}
    assert set(stages) == {f"{name}-{kind}" for kind in params_by_kind}, "run `kedro dvc-yaml`"
    for kind, read in params_by_kind.items():
        stage = stages[f"{name}-{kind}"]
        assert stage["cmd"] == stage_command(name, kind)
        assert set(stage.get("params", [])) == read  # a stage reruns for exactly the keys its nodes read


def test_every_dvc_stage_belongs_to_a_registered_pipeline():
    commands = {tuple(str(spec["cmd"]).split()[1:]) for spec in dvc_stages().values()}
    commands.discard((CHECK_STAGE,))
    assert {p for p, _ in commands} <= set(PIPELINES)
    assert all(kind in STAGE_KINDS for _, kind in commands)


# --- (c) catalog round trip -----------------------------------------------------------------------------


def catalog_types() -> dict[str, dict[str, Any]]:
    """``{dataset type: one catalog entry of that type}`` over conf/base/catalog*.yml."""
    entries: dict[str, dict[str, Any]] = {}
    files = [REPO / "conf/base/catalog.yml", *sorted((REPO / "conf/base/catalog").glob("*.yml"))]
    for path in files:
        for config in (yaml.safe_load(path.read_text()) or {}).values():
            if isinstance(config, dict) and "type" in config:
                entries.setdefault(config["type"], config)
    return entries


@dataclass
class RoundTrip:
    """A small value of the kind a dataset type holds, and what must hold of what loads back."""

    value: Callable[[], Any]
    same: Callable[[Any, Any], bool]
    suffix: str = ""  # the file name's suffix (a folder when empty)


def _same_json(saved: Any, loaded: Any) -> bool:
    return saved == loaded


def _same_torch(saved: dict[str, Any], loaded: dict[str, Any]) -> bool:
    import torch

    return set(saved) == set(loaded) and all(
        torch.equal(saved[k], loaded[k]) if isinstance(saved[k], torch.Tensor) else saved[k] == loaded[k] for k in saved
    )


def _torch_value() -> dict[str, Any]:
    import torch

    return {"weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "names": ["a", "b"], "n": 3}


def _figure() -> Any:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(2, 1))
    axis.plot([0, 1], [1, 0])
    return figure


def _same_picture(saved: Any, loaded: np.ndarray) -> bool:
    return loaded.ndim == 3 and loaded.shape[2] in (3, 4) and loaded.shape[0] > 10 and float(loaded.std()) > 0


def _imagesets() -> dict[str, Any]:
    from revis.datasets.imageset import ImageSet

    rng = np.random.default_rng(0)
    return {
        split: ImageSet(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % 2, ["a", "b"])
        for split, n in (("train", 4), ("test", 2))
    }


def _same_imageset(saved: Any, loaded: Any) -> bool:
    return (
        np.array_equal(saved.images, loaded.images)
        and np.array_equal(saved.labels, loaded.labels)
        and list(saved.class_names) == list(loaded.class_names)
    )


def _same_imagesets(saved: dict[str, Any], loaded: dict[str, Any]) -> bool:
    return set(saved) == set(loaded) and all(_same_imageset(saved[k], loaded[k]) for k in saved)


def _cifar_folder() -> dict[str, Any]:
    splits = _imagesets()
    return {"train": splits["train"], "test": splits["test"], "rules": {"rule": "a is red"}}


def _same_cifar_folder(saved: dict[str, Any], loaded: dict[str, Any]) -> bool:
    return all(_same_imageset(saved[s], loaded[s]) for s in ("train", "test")) and saved["rules"] == loaded["rules"]


def _voc() -> Any:
    from revis.datasets.voc import VocData
    from revis.world.detection import generate_detection_world

    world = generate_detection_world(0, n_families=3, family_size=(1, 1), n_test_families=2, image_size=48)
    return VocData(class_names=world.class_names, split_ids=world.splits, scenes=world.scenes)


def _same_voc(saved: Any, loaded: Any) -> bool:
    """Same splits, classes (VOC keeps no class order) and objects; boxes to the pixel VOC stores."""
    scenes = {s.image_id: s.objects for s in saved.scenes}
    return (
        sorted(saved.class_names) == sorted(loaded.class_names)
        and saved.split_ids == loaded.split_ids
        and set(scenes) == set(loaded.records)
        and all(
            [o.name for o in objects] == [o.name for o in loaded.records[i].objects]
            and np.allclose([o.box for o in objects], [o.box for o in loaded.records[i].objects], atol=1.0)
            for i, objects in scenes.items()
        )
    )


def _smoke() -> Any:
    from revis.world.smoke import SmokeWorldConfig, generate_smoke_world

    config = SmokeWorldConfig(
        source_cameras=1, source_frames=2, target_cameras=2, target_frames=2, test_cameras=1, test_frames=2
    )
    return generate_smoke_world(0, config)


def _same_smoke(saved: Any, loaded: Any) -> bool:
    return len(list(loaded.images.rglob("*.jpg"))) == len(saved.frames) and loaded.truth() == json.loads(
        json.dumps(saved.truth)
    )


def _videos() -> Any:
    from revis.world.videos import WorldConfig, generate_video_world

    return generate_video_world(WorldConfig(seed=0, n_families=4, clips=(6, 8), segment_length=(2, 3)))


def _same_videos(saved: Any, loaded: Any) -> bool:
    return all(
        [q.qid for q in loaded.split(split)] == [q.qid for q in queries] for split, queries in saved.queries.items()
    ) and set(loaded.splits) == set(saved.queries)


def _captions() -> dict[str, Any]:
    from revis.world.captions import generate_captions

    return {
        "train": generate_captions(3, seed=0, size=8),
        "test": generate_captions(2, seed=1, size=8),
        "vocabulary": {},
    }


def _same_captions(saved: dict[str, Any], loaded: dict[str, Any]) -> bool:
    splits = ("train", "test")
    return saved["vocabulary"] == loaded["vocabulary"] and all(
        np.array_equal(saved[s].images, loaded[s].images) and saved[s].captions == loaded[s].captions for s in splits
    )


def _curve() -> list[dict[str, Any]]:
    return [{"epoch": 1, "y0": 0.5}, {"epoch": 2, "y0": 0.25}]


ROUND_TRIPS: dict[str, RoundTrip] = {
    "revis.catalog.JsonDataset": RoundTrip(lambda: {"a": [1, 2.5, None], "b": {"c": "d"}}, _same_json, ".json"),
    "revis.catalog.MetricsDataset": RoundTrip(lambda: {"scale": "tiny", "x": {"mean": 1.0}}, _same_json, ".json"),
    "revis.catalog.TextDataset": RoundTrip(lambda: "# Scoreboard\n\nα ≤ β\n", _same_json, ".md"),
    "revis.catalog.TorchDataset": RoundTrip(_torch_value, _same_torch, ".pt"),
    "revis.catalog.FigureDataset": RoundTrip(_figure, _same_picture, ".png"),
    "revis.catalog.CurveDataset": RoundTrip(_curve, _same_json, ".json"),
    "revis.catalog.ImageSetsDataset": RoundTrip(_imagesets, _same_imagesets, ".npz"),
    "revis.catalog.CifarFolderDataset": RoundTrip(_cifar_folder, _same_cifar_folder),
    "revis.catalog.VocFolderDataset": RoundTrip(_voc, _same_voc),
    "revis.catalog.SmokeWorldDataset": RoundTrip(_smoke, _same_smoke),
    "revis.catalog.QvhFolderDataset": RoundTrip(_videos, _same_videos),
    "revis.catalog.CaptionWorldDataset": RoundTrip(_captions, _same_captions),
    "yaml.YAMLDataset": RoundTrip(lambda: {"claims": [{"id": "a", "kind": "paper"}]}, _same_json, ".yaml"),
}
# Model folders (MiniT2IPipeline) round-trip in tests/diffusion/test_t2i_model.py (they need the text encoder).
ROUND_TRIPPED_ELSEWHERE = {"revis.catalog.DiffusersFolderDataset", "revis.catalog.DiffusersFolderSetDataset"}


def _dataset(type_name: str, entry: dict[str, Any], filepath: Path) -> Any:
    from kedro.io import AbstractDataset

    config = {
        **{k: v for k, v in entry.items() if k not in {"filepath", "claims"}},
        "filepath": str(filepath),
    }
    if type_name == "revis.catalog.CurveDataset":
        config.update(x="epoch", y=["y0"])
    return AbstractDataset.from_config("round_trip", config)


def test_every_catalog_type_has_a_round_trip():
    assert set(catalog_types()) - ROUND_TRIPPED_ELSEWHERE == set(ROUND_TRIPS)


@pytest.mark.parametrize("type_name", sorted(ROUND_TRIPS))
def test_catalog_type_saves_and_loads_the_same_value(type_name, tmp_path):
    trip = ROUND_TRIPS[type_name]
    entry = catalog_types()[type_name]
    target = tmp_path / f"out{trip.suffix}"
    dataset = _dataset(type_name, entry, target)
    value = trip.value()
    dataset.save(value)
    assert trip.same(value, dataset.load())
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left beside it
    if not type_name.startswith("revis."):
        return
    # atomic: a save that fails leaves the previous value whole, and no temporary

    def unsavable() -> None:
        """No dataset holds this: a local function is neither JSON, text, a picture nor picklable."""

    with pytest.raises(Exception):  # noqa: B017 (each type fails in its own way on a value it cannot hold)
        dataset.save(unsavable)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    assert trip.same(value, dataset.load())


# --- (d) metrics schema ---------------------------------------------------------------------------------

METRICS_FILES = sorted(p.parent.name for p in (REPO / "reports").glob("*/metrics.json"))
SUMMARY_KEYS = {"mean", "std", "n", "values"}


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _summaries(tree: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(tree, dict):
        if set(tree) >= SUMMARY_KEYS:
            yield path, tree
        for key, value in tree.items():
            yield from _summaries(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _summaries(value, f"{path}[{i}]")


def _summary_problems(path: str, summary: dict[str, Any]) -> list[str]:
    values = summary["values"]
    extra = set(summary) - SUMMARY_KEYS - {"seeds"}
    if extra:
        return [f"{path}: keys {sorted(extra)} beside a mean/std summary"]
    problems = []
    if summary["n"] != len(values) or ("seeds" in summary and len(summary["seeds"]) != len(values)):
        problems.append(f"{path}: n {summary['n']}, {len(values)} values, seeds {summary.get('seeds')}")
    if "seeds" in summary and len(set(summary["seeds"])) != len(summary["seeds"]):
        problems.append(f"{path}: repeated seeds {summary['seeds']}")
    if not values:
        return [*problems, f"{path}: no values"]
    array = np.asarray(values, dtype=float)
    if not math.isclose(summary["mean"], float(array.mean()), rel_tol=1e-9, abs_tol=1e-12):
        problems.append(f"{path}: mean {summary['mean']} is not the mean of {values}")
    std = float(array.std(ddof=1)) if len(values) > 1 else None
    if (std is None) != (summary["std"] is None) or (
        std is not None and not math.isclose(summary["std"], std, rel_tol=1e-7, abs_tol=1e-12)
    ):
        problems.append(f"{path}: std {summary['std']} is not the sample sd {std} of {values}")
    return problems


@pytest.mark.parametrize("name", METRICS_FILES)
def test_committed_metrics_follow_the_schema(name):
    text = (REPO / "reports" / name / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=_refuse_constant)  # NaN / Infinity are not JSON numbers
    assert isinstance(metrics.get("scale"), str) and metrics["scale"], "metrics.json needs a `scale` string"
    problems = [p for path, summary in _summaries(metrics) for p in _summary_problems(path, summary)]
    assert not problems, "\n".join(problems)


def test_every_pipeline_that_writes_metrics_has_them_committed():
    writers = {name for name in PIPELINES if f"{name}.metrics" in created(name).all_outputs()}
    assert writers == set(METRICS_FILES)


def test_the_summary_check_catches_inconsistent_summaries():
    good = {"mean": 2.0, "std": 1.0, "n": 3, "values": [1.0, 2.0, 3.0], "seeds": [0, 1, 2]}
    assert _summary_problems("x", good) == []
    assert _summary_problems("x", {**good, "n": 2})
    assert _summary_problems("x", {**good, "seeds": [0, 1]})
    assert _summary_problems("x", {**good, "mean": 2.5})
    assert _summary_problems("x", {**good, "std": float(np.std([1.0, 2.0, 3.0]))})  # population sd, not sample
    assert _summary_problems("x", {"mean": 1.0, "std": None, "n": 1, "values": [1.0]}) == []
    with pytest.raises(ValueError, match="NaN"):
        json.loads('{"a": NaN}', parse_constant=_refuse_constant)


# --- (e) thin nodes -------------------------------------------------------------------------------------

NODE_MODULES = sorted(REPO.glob("src/revis/pipelines/*/nodes_*.py"))


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body:
        return 0
    assert function.end_lineno is not None
    return function.end_lineno - body[0].lineno + 1


def node_module_problems(source: str) -> list[str]:
    """Functions over the line budget and ``model_validate`` calls of one node module."""
    problems = []
    for item in ast.walk(ast.parse(source)):
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(item) > MAX_NODE_BODY_LINES:
            problems.append(f"{item.name} (line {item.lineno}): body of {_body_lines(item)} lines")
        name = item.attr if isinstance(item, ast.Attribute) else item.id if isinstance(item, ast.Name) else ""
        if name.startswith("model_validate"):
            problems.append(f"line {item.lineno}: {name} (type the node argument and wire params: instead)")
    return problems


@pytest.mark.parametrize(
    "path", NODE_MODULES, ids=[str(p.relative_to(REPO / "src/revis/pipelines")) for p in NODE_MODULES]
)
def test_node_modules_are_thin(path):
    problems = node_module_problems(path.read_text())
    assert not problems, f"{path.relative_to(REPO)} (bodies <= {MAX_NODE_BODY_LINES} lines):\n" + "\n".join(problems)


def test_the_thin_node_check_counts_from_the_first_statement_after_the_docstring():
    lines = "\n".join(f"    x{i} = {i}" for i in range(MAX_NODE_BODY_LINES))
    ok = f'def f():\n    """Doc\n    string."""\n{lines}\n'
    assert node_module_problems(ok) == []
    assert node_module_problems(ok + "    return x0\n") == ["f (line 1): body of 41 lines"]
    assert node_module_problems("def g(p):\n    return Params.model_validate(p)\n") == [
        "line 2: model_validate (type the node argument and wire params: instead)"
    ]


@pytest.mark.parametrize("name", PIPELINES)
def test_the_node_that_writes_metrics_is_report_metrics(name):
    for node in created(name).nodes:
        if any(output.rsplit(".", 1)[-1] == "metrics" for output in node.outputs):
            assert node.name.rsplit(".", 1)[-1] == METRICS_NODE, node.name
            assert node.func.__name__ == METRICS_NODE, f"{node.name} runs {node.func.__name__}"
