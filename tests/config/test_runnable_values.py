"""Values that validate as types but cannot run: a normalisation that divides by zero or NaN, and model
sizes whose memory floor (parameters x concurrent models x 12 bytes) exceeds the memory available."""

from pathlib import Path

import pytest
import yaml

from revis.config import memory
from revis.config.schema import ParameterError, validate_params
from revis.models.config import ModelConfig

REPO = Path(__file__).resolve().parents[2]


def committed_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    ("normalize", "words"),
    [
        ([[0.5, 0.5, 0.5], [0.2, 0.0, 0.2]], "stds must be finite and > 0"),
        ([[0.5, 0.5, 0.5], [0.2, float("nan"), 0.2]], "stds must be finite and > 0"),
        ([[float("nan"), 0.5, 0.5], [0.2, 0.2, 0.2]], "means must be finite"),
        ([[0.5, 0.5, 0.5], [0.2, -1.0, 0.2]], "stds must be finite and > 0"),
        ([[0.5, 0.5], [0.2]], "[[mean per channel], [std per channel]]"),
    ],
)
def test_gig_normalize_refuses_what_cannot_be_divided_by_naming_the_key(normalize, words):
    params = committed_params()
    params["gig"]["data"]["normalize"] = normalize
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    assert "'gig.data.normalize'" in str(info.value) and words in str(info.value)


def test_imagenet_normalize_is_accepted():
    params = committed_params()
    params["gig"]["data"]["normalize"] = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]
    validate_params(params)


def test_the_convnet_parameter_count_matches_the_built_network():
    import torch  # noqa: F401  (the closed form must agree with the network as built)

    from revis.models import build_model

    for config in (ModelConfig(width=16, depth=3), ModelConfig(width=8, depth=1, norm="none")):
        built = sum(p.numel() for p in build_model(config, 3, 10, 32).parameters())
        assert memory.model_parameters(config) == built
    config = ModelConfig(name="patch_cnn", width=16, depth=2, patch=4)
    built = sum(p.numel() for p in build_model(config, 3, 10, 32).parameters())
    assert memory.model_parameters(config) == built


def test_an_oversized_model_is_refused_naming_the_key_and_the_estimate(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 24 * memory.GIB)
    params = committed_params()
    params["baseline"]["model"].update(width=4096, depth=8)
    params["baseline"]["datasets"], params["baseline"]["seeds"] = ["shapes", "digits"], [0, 1, 2]
    with pytest.raises(ParameterError) as info:
        validate_params(params)
    message = str(info.value)
    assert "'baseline.model'" in message and "1.06 G parameters" in message and "6 concurrent" in message
    assert "at least 70.9 GiB" in message and "24.0 GiB of memory is available" in message


def test_a_model_that_fits_passes_and_one_model_at_a_time_counts_once(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 24 * memory.GIB)
    params = committed_params()
    params["baseline"]["model"].update(width=4096, depth=8)
    params["baseline"]["datasets"], params["baseline"]["seeds"] = ["shapes"], [0]  # 1 model: 11.8 GiB
    validate_params(params)
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * memory.GIB)
    with pytest.raises(ParameterError, match="1 concurrent model"):
        validate_params(params)
