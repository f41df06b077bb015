"""diffusers' import-everything packages run their ``__init__`` only when one of its own names is asked for."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = (
    "import sys, revis; "
    "from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel; "
    "from diffusers.pipelines.pipeline_utils import DiffusionPipeline; "
    "from diffusers.models.unets import unet_2d_blocks; "
    "print(sorted(m for m in ('diffusers.models.unets.unet_1d', 'diffusers.models.autoencoders.autoencoder_dc') "
    "if m in sys.modules)); "
    "from diffusers.models.unets import UNet2DModel; from diffusers import UNet2DConditionModel as U; "
    "print(UNet2DModel.__name__, U is UNet2DConditionModel, 'diffusers.models.unets.unet_1d' in sys.modules)"
)


def _run(switch: str) -> list[str]:
    env = {**os.environ, "REVIS_LAZY_PACKAGES": switch, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return done.stdout.splitlines()


def test_a_submodule_imports_without_its_packages_other_models_and_names_still_resolve():
    assert _run("on") == ["[]", "UNet2DModel True True"]  # the package's own name ran its __init__


@pytest.mark.slow
def test_the_switch_leaves_pythons_import_system_as_it_is():
    assert _run("off") == [
        "['diffusers.models.autoencoders.autoencoder_dc', 'diffusers.models.unets.unet_1d']",
        "UNet2DModel True True",
    ]
