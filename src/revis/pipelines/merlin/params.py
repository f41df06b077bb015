"""params.yaml section ``merlin``: interactive retrieval on the video world (``revis.retrieval``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from revis.config.runtime import ComputeParams
from revis.config.types import STRICT, DataPath, Seeds


class RealData(BaseModel):
    """A real benchmark (paper scale): pre-extracted embeddings (round 0 only), or the videos and a local CLIP
    folder (the interactive loop runs: ``revis.retrieval.real_loop``)."""

    model_config = STRICT
    dataset: Literal["msrvtt", "msvd", "anet"]
    annotations: DataPath = None  # MSR-VTT 1k-A csv / videodatainfo json | MSVD captions | ActivityNet json
    embeddings: DataPath = None  # <root>/video_embeddings/<vid>.npy and text_embeddings/<vid>.npy (MERLIN's layout)
    limit: int | None = Field(default=None, ge=1, le=100_000)  # MERLIN: the first 500 of MSR-VTT 1k-A
    id_list: DataPath = None  # MERLIN's msrvtt_1ka: its order, the last caption per video (msrvtt only)
    train_annotations: DataPath = None  # read before annotations (MERLIN: train_val, then test videodatainfo)
    videos: DataPath = None  # <videos>/TestVideo, <videos>/TrainValVideo or <videos> itself: <vid>.mp4
    clip_path: DataPath = None  # a local CLIPModel folder (save_pretrained): gallery, queries, answers
    captions: DataPath = None  # <captions>/<vid>: anchor captions (MERLIN's GPT-4V ones); else from the frames
    every_seconds: float = Field(default=1.0, gt=0, le=60)  # MERLIN: one frame per second
    max_frames: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _source(self) -> RealData:
        if self.videos and not self.clip_path:
            raise ValueError("merlin.features.real.videos needs clip_path (a local CLIP folder)")
        if not self.videos and not self.embeddings:
            raise ValueError("merlin.features.real needs embeddings, or videos and clip_path")
        if self.id_list and self.dataset != "msrvtt":
            raise ValueError("merlin.features.real.id_list is MERLIN's MSR-VTT subset (dataset msrvtt)")
        return self


class FeaturesParams(BaseModel):
    """Gallery and query embeddings per whole-chain seed (seed s: vl encoder s, query sample s)."""

    model_config = STRICT
    splits: list[str] = Field(default=["val", "test"], min_length=1)  # gallery: videos the encoder never saw
    queries: int = Field(default=90, ge=3, le=100_000)  # per seed, an equal share per vagueness level
    levels: list[int] = Field(default=[1, 2, 3], min_length=1)  # attributes a query names
    background: float = Field(default=0.0, ge=0, le=1)  # share of queries that also name the background
    frame_stride: int = Field(default=2, ge=1, le=100)  # embed every n-th frame (one frame per 2-s clip on disk)
    pooling: Literal["mean", "attention"] = "mean"
    attention_temperature: float = Field(default=0.1, gt=0, le=10)
    real: RealData | None = None


class LLMParams(BaseModel):
    """The LLM questioner (off in the default DAG): an OpenAI-compatible endpoint or a local causal LM."""

    model_config = STRICT
    backend: Literal["none", "http", "transformers"] = "none"
    url: str | None = None  # the full .../v1/chat/completions address
    model: str = "gpt-4o"
    api_key_env: str | None = "OPENAI_API_KEY"  # the key is read from this environment variable only
    timeout: float = Field(default=30.0, gt=0, le=600)  # seconds for the whole request, not per read
    max_consecutive_failures: int = Field(default=5, ge=1, le=10_000)  # then the stage stops (a dead endpoint)
    path: DataPath = None  # a local transformers causal LM folder
    temperature: float = Field(default=0.2, ge=0, le=2)  # the first question (MERLIN: 0.2, then 0.7)
    later_temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=64, ge=1, le=2048)
    on_error: Literal["skip", "stop"] = "skip"
    aggregate_answers: bool = False  # real videos: the backend aggregates the per-frame answers (MERLIN)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"the chat url needs a scheme: http:// or https://, got {url!r}")
        return url

    @model_validator(mode="after")
    def _backend_needs(self) -> LLMParams:
        if self.backend == "http" and not self.url:
            raise ValueError("llm.backend 'http' needs llm.url")
        if self.backend == "transformers" and not self.path:
            raise ValueError("llm.backend 'transformers' needs llm.path")
        if self.aggregate_answers and self.backend == "none":
            raise ValueError("llm.aggregate_answers needs llm.backend http or transformers")
        return self


class EvaluateParams(BaseModel):
    model_config = STRICT
    rounds: int = Field(default=5, ge=1, le=20)
    alpha: float = Field(default=0.8, ge=0, le=1)  # MERLIN's code: 0.8
    conventions: list[Literal["answer", "history"]] = Field(default=["answer", "history"], min_length=1)
    questioners: list[Literal["rule", "entropy", "learned", "llm"]] = Field(default=["rule", "entropy"], min_length=1)
    learned: bool = False  # + the learned questioner's arms: one per convention, accurate answers
    learned_queries: int = Field(default=210, ge=3, le=100_000)  # training queries of the learned questioner
    learned_background: float = Field(default=1.0, ge=0, le=1)  # their share naming the place
    noise: list[float] = Field(default=[0.0, 0.2], min_length=1)  # wrong-answer rates
    control: bool = True  # answers about a random non-target video (rule questioner, accurate answers)
    top_k: int = Field(default=10, ge=1, le=1000)  # candidates the questioner sees
    user_restates: bool = False  # answers also restate the query and earlier answers (off: the asked slot only)
    llm: LLMParams = Field(default_factory=LLMParams)

    @model_validator(mode="after")
    def _consistent(self) -> EvaluateParams:
        if any(not 0 <= p <= 1 for p in self.noise) or 0.0 not in self.noise:
            raise ValueError(f"noise must be rates in [0, 1] including 0 (accurate answers), got {self.noise}")
        if "llm" in self.questioners and self.llm.backend == "none":
            raise ValueError("questioner 'llm' needs llm.backend http or transformers")
        return self


class Params(BaseModel):
    model_config = STRICT
    seeds: Seeds = Field(max_length=20)  # seed s: vl encoder s, query sample s, user noise s
    compute: ComputeParams = Field(
        default_factory=ComputeParams
    )  # device only: merlin leaves torch's CPU threads at their default
    features: FeaturesParams
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
