"""``lada-ingest``: the smoke world and its control, written like the LADA release."""

from __future__ import annotations

from revis.pipelines.lada.params import WorldParams
from revis.world.smoke import SmokeWorld, SmokeWorldConfig, generate_smoke_world


def world_config(p: WorldParams) -> SmokeWorldConfig:
    return SmokeWorldConfig(
        source_cameras=p.source_cameras,
        source_frames=p.source_frames,
        target_cameras=p.target_cameras,
        target_frames=p.target_frames,
        test_cameras=p.test_cameras,
        test_frames=p.test_frames,
        seen_test_frames=p.seen_test_frames,
        source_test_frames=p.source_test_frames,
        negative_fraction=p.negative_fraction,
        parts=(p.parts[0], p.parts[1]),
        second_plume=p.second_plume,
        clouds=p.clouds,
        overrun=p.overrun,
    )


def make_world(world: WorldParams) -> SmokeWorld:
    """Fixed-camera smoke scenes, smoke rising near the horizon at camera-specific spots (position carries signal)."""
    return generate_smoke_world(world.seed, world_config(world), placement="horizon")


def make_control(world: WorldParams) -> SmokeWorld:
    """The same world with smoke placed uniformly (smoke position carries no signal); cameras, clouds and every
    frame without smoke are the main world's."""
    return generate_smoke_world(world.seed, world_config(world), placement="uniform")
