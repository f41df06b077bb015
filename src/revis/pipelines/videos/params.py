"""params.yaml section ``videos``: the video world's generator (``revis.world.videos``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from revis.config.types import STRICT, IntRange, Seed


class Params(BaseModel):
    model_config = STRICT
    seed: Seed = 0
    n_families: int = Field(ge=5, le=5000)  # families of near-duplicate videos; splits never share one
    family_size: IntRange = [1, 3]
    clips: IntRange = [20, 40]  # 2-s clips per video (QVHighlights: 75)
    image_size: int = Field(default=32, ge=16, le=128)
    events: IntRange = [2, 4]  # distinct events per video
    segment_length: IntRange = [3, 8]  # clips per appearance of an event
    gap: IntRange = [1, 3]  # empty clips between appearances
    distractor_share: float = Field(default=0.75, ge=0, le=1)  # events derived from another by changing 1-3 attributes
    queries_per_video: int = Field(default=2, ge=1, le=6)
    extra_attribute: float = Field(default=0.25, ge=0, le=1)  # chance a query names a non-distinguishing attribute too
    background_in_query: float = Field(default=0.3, ge=0, le=1)
    annotators: int = Field(default=3, ge=1, le=10)
    annotator_bias: float = Field(default=0.4, ge=0, le=4)  # sd of each annotator's offset per query
    annotator_noise: float = Field(default=0.6, ge=0, le=4)  # sd of each score around 4 x visibility
    noise: float = Field(default=5.0, ge=0, le=64)  # pixel noise
    split_fractions: list[float] = Field(default=[0.6, 0.2, 0.2], min_length=3, max_length=3)

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.family_size[0] < 1:
            raise ValueError("family_size must be at least [1, 1]")
        if self.clips[1] > 150 or self.clips[0] < self.segment_length[0] + self.gap[1]:
            raise ValueError(
                f"clips {self.clips} must lie in [segment_length[0] + gap[1], 150] "
                f"= [{self.segment_length[0] + self.gap[1]}, 150] so that every video shows an event"
            )
        if self.segment_length[0] < 2:
            raise ValueError("segment_length must start at 2 clips or more (highlights span several clips)")
        if self.events[0] < 1 or self.events[1] > 8:
            raise ValueError("events must lie in [1, 8]")
        if abs(sum(self.split_fractions) - 1) > 1e-6 or min(self.split_fractions) < 0 or self.split_fractions[0] == 0:
            raise ValueError(
                f"split_fractions (train, val, test) must be >= 0 and sum to 1, got {self.split_fractions}"
            )
        return self
