"""dsv's settings reach the library typed: ``Teacher.recipe()`` and ``RealFitJob.of`` carry every field they used
to carry as ``model_dump`` spreads (a field added to the schema but not passed on fails here)."""

import pytest
import torch
import yaml

from revis.kkt.real import RealFitJob
from revis.kkt.teacher import TeacherState
from revis.pipelines.dsv.params import Select, Teacher
from revis.training import TrainConfig


def _section(repo_root, name):
    return yaml.safe_load((repo_root / "params.yaml").read_text())["dsv"][name]


def test_teacher_recipe_is_the_train_config_of_every_field_but_model_and_polish(repo_root):
    raw = {**_section(repo_root, "teacher"), "optimizer": "adam", "schedule": "step", "augment": "crop", "lr": 0.07}
    teacher = Teacher.model_validate(raw)
    recipe = teacher.recipe()
    assert recipe == TrainConfig(**teacher.model_dump(exclude={"model", "polish_iterations", "per_dataset"}))
    assert set(TrainConfig.model_fields) == set(Teacher.model_fields) - {"model", "polish_iterations", "per_dataset"}
    assert (recipe.optimizer, recipe.schedule, recipe.augment, recipe.lr) == ("adam", "step", "crop", 0.07)


def test_a_datasets_own_teacher_fields_replace_only_those_fields_for_that_dataset(repo_root):
    raw = {
        **_section(repo_root, "teacher"),
        "epochs": 7,
        "lr": 0.05,
        "per_dataset": {"shapes": {"epochs": 11, "lr": 0.1}},
    }
    teacher = Teacher.model_validate(raw)
    shapes, digits = teacher.recipe("shapes"), teacher.recipe("digits")
    assert (shapes.epochs, shapes.lr, digits.epochs, digits.lr, teacher.recipe().epochs) == (11, 0.1, 7, 0.05, 7)
    assert shapes.model_dump(exclude={"epochs", "lr"}) == digits.model_dump(exclude={"epochs", "lr"})
    with pytest.raises(ValueError):
        Teacher.model_validate({**raw, "per_dataset": {"mnist": {"lr": 0.1}}})
    with pytest.raises(ValueError):
        Teacher.model_validate({**raw, "per_dataset": {"shapes": {"momentum": 0.5}}})


def test_real_fit_job_takes_every_fit_setting_of_select(repo_root):
    raw = {**_section(repo_root, "select"), "distance": "l2", "parameters": "all", "method": "implicit", "steps": 7}
    select = Select.model_validate(raw)
    teacher = TeacherState({"name": "convnet"}, [1, 10, 8], {}, 0.01)
    x, y = torch.zeros(3, 1, 8, 8), torch.tensor([0, 1, 2])
    job = RealFitJob.of(teacher, x, y, select)
    fit = select.model_dump(include={"steps", "lr", "distance", "parameters", "chunk_size", "method"})
    assert {k: getattr(job, k) for k in fit} == fit
    assert (job.distance, job.parameters, job.method, job.steps) == ("l2", "all", "implicit", 7)
    assert job.teacher is teacher and job.x is x and job.y is y
