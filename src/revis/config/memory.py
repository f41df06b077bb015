"""What a model size will cost, checked before a stage runs: parameters x concurrent models vs memory.

Every ``ModelConfig`` in a validated section is found by walking the section's tree; its
parameter count comes from a closed form per architecture (no torch import: validation stays
fast). Training holds each parameter at least three times in float32 -- weights, gradients,
one optimizer buffer (momentum) -- so ``BYTES_PER_PARAMETER`` is 12, activations excluded:
the estimate is a floor. A section declares how many of a model train at once with a
``concurrent_models(key)`` method on its ``Params`` (default 1: one at a time). A floor above
the memory available now is refused, naming the key and the estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pydantic import BaseModel

from revis.models.config import ModelConfig

BYTES_PER_PARAMETER = 12  # float32 weights + gradients + one optimizer buffer; activations not counted
GIB = 1024**3
# The smallest data the projects feed these models: 3 channels, 32 px, 10 classes (a floor, again).
IN_CHANNELS, IMAGE_SIZE, NUM_CLASSES = 3, 32, 10
RESNET_PARAMETERS = {"resnet18": 11_173_962, "resnet50": 23_528_522}  # torchvision, 10 classes


def model_parameters(config: ModelConfig, in_channels: int = IN_CHANNELS, image_size: int = IMAGE_SIZE) -> int:
    """The parameter count of ``config``'s network (to within the classifier head), without building it."""
    width, depth = config.width, config.depth
    norm = 0 if config.norm == "none" else 2 * width
    if config.name == "convnet":
        convs = (in_channels * 9 + 1) * width + (depth - 1) * (width * 9 + 1) * width + depth * norm
        size = image_size
        for _ in range(depth):
            size = size // 2 if size >= 2 else size
        return convs + (width * size * size + 1) * NUM_CLASSES
    if config.name == "patch_cnn":
        stem = (in_channels * config.patch**2 + 1) * width
        return stem + (depth - 1) * (width * 9 + 1) * width + depth * norm + (width + 1) * NUM_CLASSES
    if config.name == "tiny_vit":
        grid = max(1, image_size // config.patch) ** 2
        layer = 4 * width * width + 4 * width + 2 * (4 * width * width) + 5 * width + 4 * width  # attention + MLP(4x)
        return (in_channels * config.patch**2 + 1) * width + grid * width + depth * layer + (width + 1) * NUM_CLASSES
    return RESNET_PARAMETERS[config.name]


def model_configs(tree: BaseModel, prefix: str) -> Iterator[tuple[str, ModelConfig]]:
    """``(dotted key, ModelConfig)`` of every model size declared in a validated section."""
    for name in type(tree).model_fields:
        value = getattr(tree, name)
        key = f"{prefix}.{name}"
        if isinstance(value, ModelConfig):
            yield key, value
        elif isinstance(value, BaseModel):
            yield from model_configs(value, key)


def available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def memory_problems(sections: dict[str, BaseModel], available: Callable[[], int] | None = None) -> list[str]:
    """One line per model size whose floor (parameters x concurrent models x 12 bytes) exceeds the memory."""
    problems: list[str] = []
    free: int | None = None
    for section, tree in sections.items():
        concurrent: Callable[[str], int] = getattr(tree, "concurrent_models", lambda key: 1)
        for key, config in model_configs(tree, section):
            parameters = model_parameters(config)
            copies = max(1, concurrent(key))
            needed = parameters * copies * BYTES_PER_PARAMETER
            if needed < GIB:  # cheap: no need to ask the system
                continue
            free = (available or available_bytes)() if free is None else free
            if needed > free:
                problems.append(
                    f"'{key}': {config.name} width {config.width}, depth {config.depth} has about "
                    f"{_count(parameters)} parameters; {copies} concurrent model(s) x {BYTES_PER_PARAMETER} bytes "
                    f"each need at least {needed / GIB:.1f} GiB, but {free / GIB:.1f} GiB of memory is available"
                )
    return problems


def _count(parameters: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if parameters >= size:
            return f"{parameters / size:.2f} {unit}"
    return str(parameters)
