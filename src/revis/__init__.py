"""revis: one reproducible pipeline that rebuilds the results of ten computer-vision papers."""

import os

__version__ = "0.1.0"

# Offline by design: no telemetry from any tool, no hub look-ups at run time.
for _name, _value in {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK": "true",
    "DVC_NO_ANALYTICS": "1",
    "YOLO_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GIT_PYTHON_REFRESH": "quiet",
    "MPLBACKEND": "Agg",  # pictures are files (revis.catalog.FigureDataset), never windows
}.items():
    os.environ.setdefault(_name, _value)

# The same numbers on any x86-64 CPU: torch picks its vector kernels (ATen), matrix products (MKL) and
# convolutions (oneDNN) by the instructions the CPU has, so an AVX-512 machine and an AVX2 one round
# differently and the differences grow through training (12 of 15 pipelines changed between an Intel and an
# AMD machine before this). Pinned to AVX2, which every x86-64 server of the last decade has. Measured on an
# AMD EPYC (AVX2): bit-identical results and speed with and without the pins; an unpinned kernel choice
# (ATEN_CPU_CAPABILITY=default, MKL_CBWR=COMPATIBLE) changes a 200-step ConvNet's weights. Set before torch
# is first used; a user who wants the fastest kernels of their CPU exports the variables themselves.
# numpy likewise dispatches its loops (exp, sin, sums, sorts) to AVX-512 code where the CPU has it: on an
# Intel Sapphire Rapids the smoke world's pixels differed from an AMD EPYC's until its AVX-512 targets were
# disabled (then byte-identical). Only effective before numpy's first import (run-stage and make export it).
for _name, _value in {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}.items():
    os.environ.setdefault(_name, _value)

# diffusers' model packages import every model they hold; revis imports the few it uses (revis/imports.py)
from revis import imports as _imports  # noqa: E402

_imports.install()
