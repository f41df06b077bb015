"""The Bi-ICE head (Hong et al., WACV 2026): concepts bind to the input, then explain it back.

Over patch embeddings E (B, L, D) of a backbone, three steps:

1. ``ConceptBinding`` (concepts <- input): learned concept slots S, one per concept in a fixed
   order, attend to the patches slot-attention style: the softmax runs over *concepts* (slots
   compete for each patch), is renormalised over patches, and the weighted mean of the values
   updates each slot through a GRU plus a residual MLP; ``iterations`` rounds.
2. ``Broadcast`` (input <- concepts): patches query the bound slots,
   A = softmax(q(E) k(S)^T / sqrt(d)) over concepts. A, averaged over heads, is the per-patch
   concept localisation map.
3. ``ComputeLogit``: per-patch logits W_o (A v(S)), averaged over patches. W_o has no bias,
   so the logit of class c is exactly the sum over concepts k of
   (attention mass of k, averaged over patches) x (projection of v(S_k) on class c):
   ``contributions.sum(-1) == logits`` (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from revis.models import ModelConfig, build_model
from revis.models.patches import PatchCNN, PatchMLPClassifier, TinyViT, mlp_hidden_width


@dataclass
class BiICEOutput:
    logits: torch.Tensor  # (B, C)
    attention: torch.Tensor  # (B, L, K): per-patch concept map A, averaged over heads; rows sum to 1
    contributions: torch.Tensor  # (B, C, K): concept k's share of the logit of class c
    patch_logits: torch.Tensor  # (B, L, C): per-patch logits; their mean over patches is ``logits``
    slots: torch.Tensor  # (B, K, D): bound concept slots after the last iteration
    binding_steps: torch.Tensor  # (B, T): ||S_t - S_{t-1}||_F per binding iteration
    binding_attention: torch.Tensor  # (B, K, L): where each concept read from in the last iteration
    head_attention: torch.Tensor  # (B, H, L, K): A per head


class ConceptBinding(nn.Module):
    """Learned, ordered concept slots bound to the patches by iterated competitive attention."""

    def __init__(
        self, dim: int, num_concepts: int, iterations: int = 3, hidden: int | None = None, eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.iterations = iterations
        self.eps = eps
        self.scale = dim**-0.5
        # one learned initial slot per concept: slot k always stands for concept k
        self.slots = nn.Parameter(torch.randn(1, num_concepts, dim) * dim**-0.5)
        self.norm_inputs, self.norm_slots, self.norm_mlp = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.gru = nn.GRUCell(dim, dim)
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))

    def binding_attention(self, slots: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """(B, K, L): softmax over concepts, then renormalised over patches (rows sum to 1)."""
        logits = self.to_q(self.norm_slots(slots)) @ keys.transpose(1, 2) * self.scale
        attn = logits.softmax(dim=1) + self.eps
        return attn / attn.sum(dim=2, keepdim=True)

    def forward(
        self, patches: torch.Tensor, iterations: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Bound slots (B, K, D), per-iteration step norms (B, T), last binding attention (B, K, L)."""
        batch, _, dim = patches.shape
        inputs = self.norm_inputs(patches)
        keys, values = self.to_k(inputs), self.to_v(inputs)
        slots = self.slots.expand(batch, -1, -1)
        steps = []
        for _ in range(self.iterations if iterations is None else iterations):
            previous = slots
            attention = self.binding_attention(slots, keys)
            updates = attention @ values
            slots = self.gru(updates.reshape(-1, dim), previous.reshape(-1, dim)).reshape_as(previous)
            slots = slots + self.mlp(self.norm_mlp(slots))
            steps.append((slots - previous).flatten(1).norm(dim=1))
        return slots, torch.stack(steps, dim=1), attention


class Broadcast(nn.Module):
    """Patches attend to the bound concepts; returns A per head (B, H, L, K) and values (B, H, K, D/H)."""

    def __init__(self, dim: int, heads: int = 1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.norm_patches, self.norm_slots = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, dim, bias=False) for _ in range(3))

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, n, dim = x.shape
        return x.reshape(batch, n, self.heads, dim // self.heads).transpose(1, 2)

    def forward(self, patches: torch.Tensor, slots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self._split(self.to_q(self.norm_patches(patches)))
        normed = self.norm_slots(slots)
        k, v = self._split(self.to_k(normed)), self._split(self.to_v(normed))
        attention = (q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(dim=-1)
        return attention, v


class ComputeLogit(nn.Module):
    """Per-patch logits W_o (A v) averaged over patches, and their exact split over concepts."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.out = nn.Linear(dim, num_classes, bias=False)  # no bias: the concepts account for the whole logit

    def forward(self, attention: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits (B, C), contributions (B, C, K) and per-patch logits (B, L, C)."""
        _, heads, _, head_dim = values.shape
        weight = self.out.weight.reshape(-1, heads, head_dim)  # (C, H, D/H): W_o acts on concatenated heads
        projection = torch.einsum("bhkd,chd->bhkc", values, weight)  # each concept's vote per class and head
        mass = attention.mean(dim=2)  # (B, H, K): attention mass of each concept, averaged over patches
        contributions = torch.einsum("bhk,bhkc->bck", mass, projection)
        patch_logits = torch.einsum("bhlk,bhkc->blc", attention, projection)
        return contributions.sum(-1), contributions, patch_logits


class BiICEHead(nn.Module):
    """ConceptBinding -> Broadcast -> ComputeLogit over patch embeddings (B, L, D)."""

    def __init__(self, dim: int, num_concepts: int, num_classes: int, iterations: int = 3, heads: int = 1) -> None:
        super().__init__()
        self.num_concepts = num_concepts
        self.binding = ConceptBinding(dim, num_concepts, iterations)
        self.broadcast = Broadcast(dim, heads)
        self.logit = ComputeLogit(dim, num_classes)

    def forward(self, patches: torch.Tensor, iterations: int | None = None) -> BiICEOutput:
        slots, steps, binding_attention = self.binding(patches, iterations)
        head_attention, values = self.broadcast(patches, slots)
        logits, contributions, patch_logits = self.logit(head_attention, values)
        return BiICEOutput(
            logits, head_attention.mean(1), contributions, patch_logits, slots, steps, binding_attention, head_attention
        )


class BiICEClassifier(nn.Module):
    """A patch backbone (``PatchCNN`` / ``TinyViT``) with the Bi-ICE head; ``forward`` gives logits."""

    def __init__(
        self, features: PatchCNN | TinyViT, num_concepts: int, num_classes: int, iterations: int = 3, heads: int = 1
    ) -> None:
        super().__init__()
        self.features = features
        self.head = BiICEHead(features.dim, num_concepts, num_classes, iterations, heads)

    @property
    def grid(self) -> int:
        return self.features.grid

    def explain(self, x: torch.Tensor, iterations: int | None = None) -> BiICEOutput:
        return self.head(self.features(x), iterations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.explain(x).logits


def build_concept_classifier(
    variant: str,
    backbone: ModelConfig | dict,
    in_channels: int,
    num_classes: int,
    image_size: int,
    num_concepts: int,
    iterations: int = 3,
    heads: int = 1,
) -> nn.Module:
    """The same patch backbone under one of the heads compared:

    - ``linear``: the registry's patch classifier (mean over patches + linear head);
    - ``mlp``: an MLP on the same mean-pooled features, with as many parameters as the Bi-ICE head;
    - any other variant (``biice``, ``biice_expl``): the Bi-ICE head with ``num_concepts`` slots.
    """
    model = build_model(backbone, in_channels, num_classes, image_size)
    features = getattr(model, "features", None)
    if not isinstance(features, (PatchCNN, TinyViT)):  # the backbones with a patch grid
        raise ValueError(f"Bi-ICE needs a patch backbone (patch_cnn, tiny_vit), got {backbone}")
    if variant == "linear":
        return model
    if variant == "mlp":
        hidden = mlp_hidden_width(
            biice_head_parameters(features.dim, num_concepts, num_classes, iterations, heads),
            features.dim,
            num_classes,
        )
        return PatchMLPClassifier(features, num_classes, hidden)
    return BiICEClassifier(features, num_concepts, num_classes, iterations, heads)


def biice_head_parameters(dim: int, num_concepts: int, num_classes: int, iterations: int = 3, heads: int = 1) -> int:
    """Parameters of a Bi-ICE head (the capacity the MLP baseline is matched to)."""
    head = BiICEHead(dim, num_concepts, num_classes, iterations, heads)
    return sum(p.numel() for p in head.parameters())


@torch.no_grad()
def explain_batches(
    model: BiICEClassifier,
    x: torch.Tensor,
    iterations: int | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """``BiICEOutput`` fields for many images, batch by batch (eval mode; returned on the CPU)."""
    model.eval().to(device)
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(x), batch_size):
        out = model.explain(x[start : start + batch_size].to(device), iterations)
        for name in ("logits", "attention", "contributions", "patch_logits", "binding_steps"):
            parts.setdefault(name, []).append(getattr(out, name).cpu())
    return {name: torch.cat(values) for name, values in parts.items()}
