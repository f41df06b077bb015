import json
import subprocess
import sys

import pytest
import torch

from revis.datasets.digits import sklearn_digits
from revis.datasets.imageset import save_imagesets_npz
from revis.models import ModelConfig, build_model
from revis.training import TrainConfig, accuracy, load_checkpoint, train_classifier
from revis.training.trainer import save_checkpoint


@pytest.mark.parametrize("norm", ["instancenorm", "batchnorm", "none"])
def test_convnet_shapes(norm):
    net = build_model({"name": "convnet", "width": 16, "depth": 3, "norm": norm}, 3, 5, 32)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert net.embed(torch.zeros(2, 3, 32, 32)).shape == (2, 16 * 4 * 4)


def test_resnet18_builds_offline_for_small_and_grey_images():
    assert build_model({"name": "resnet18"}, 1, 10, 8)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_unknown_model_is_rejected():
    with pytest.raises(ValueError):
        ModelConfig.model_validate({"name": "vgg"})


def _digits():
    data = sklearn_digits(0.3, seed=0)
    return data["train"], data["test"]


def _train(seed):
    train, _ = _digits()
    torch.manual_seed(seed)
    net = build_model({"name": "convnet", "width": 8, "depth": 2}, 1, 10, 8)
    history = train_classifier(
        net, *train.tensors(), TrainConfig(epochs=2, batch_size=64, lr=0.05), seed, progress=False
    )
    return net, history


def test_training_is_deterministic_and_learns():
    (a, history), (b, _) = _train(0), _train(0)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert history.loss[-1] < history.loss[0]
    _, test = _digits()
    assert accuracy(a, *test.tensors()) > 0.5


def test_checkpoints_load_with_weights_only(tmp_path):
    net, history = _train(1)
    save_checkpoint(tmp_path / "ckpt.pt", net, epoch=2, history=history.to_dict())
    state = load_checkpoint(tmp_path / "ckpt.pt")
    fresh = build_model({"name": "convnet", "width": 8, "depth": 2}, 1, 10, 8)
    fresh.load_state_dict(state["model"])
    assert state["epoch"] == 2 and torch.equal(fresh(torch.ones(1, 1, 8, 8)), net(torch.ones(1, 1, 8, 8)))


@pytest.mark.integration  # two torchrun processes
def test_ddp_under_torchrun_with_two_processes(tmp_path):
    save_imagesets_npz(tmp_path / "digits.npz", sklearn_digits(0.3, seed=0))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "revis.training.cli",
        "--data",
        str(tmp_path / "digits.npz"),
        "--epochs",
        "2",
        "--model",
        '{"name": "convnet", "width": 8, "depth": 2}',
        "--lr",
        "0.05",
        "--out",
        str(tmp_path / "ddp.pt"),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    checksums = {line["rank"]: line["param_checksum"] for line in lines if "rank" in line}
    summary = next(line for line in lines if "world_size" in line)
    assert sorted(checksums) == [0, 1] and checksums[0] == pytest.approx(
        checksums[1], rel=1e-12
    )  # DDP kept ranks in sync
    assert summary["world_size"] == 2 and summary["test_accuracy"] > 0.3
    assert load_checkpoint(tmp_path / "ddp.pt")["epoch"] == 2


def _smallest_normalised_map(net: torch.nn.Module, x: torch.Tensor) -> int:
    """The smallest spatial side any GroupNorm of ``net`` sees on input ``x``."""
    sides: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, inputs, _out: sides.append(min(inputs[0].shape[-2:])))
        for m in net.modules()
        if isinstance(m, torch.nn.GroupNorm)
    ]
    net(x)
    for hook in hooks:
        hook.remove()
    return min(sides)


def test_baseline_digits_convnet_never_instance_normalises_a_2x2_map():
    # instance norm over 4 values leaves a map of ±1 whatever the input: the baseline's loss stayed near chance
    from pathlib import Path

    import yaml

    params = Path(__file__).resolve().parents[2] / "params.yaml"
    model = yaml.safe_load(params.read_text())["baseline"]["model"]
    net = build_model(ModelConfig(**model), 1, 10, 8)
    assert _smallest_normalised_map(net, torch.zeros(2, 1, 8, 8)) >= 3
    padding_one = build_model(ModelConfig(**{**model, "grey_stem_padding": 1}), 1, 10, 8)
    assert _smallest_normalised_map(padding_one, torch.zeros(2, 1, 8, 8)) == 2  # the bug this guards against
