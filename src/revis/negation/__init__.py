"""The white-bear phenomenon (arXiv 2404.15154): negated objects in prompts, attacks and defenses.

- ``prompts``: the prompt kinds -- base (abstract word alone), attack ("<word> without <object>"),
  D1 (the word defined in the prompt), D2 (a concrete alternative named), negative prompt.
- ``representations``: text-encoder similarities of "without X" vs "with X" vs the scene alone,
  pooled and per token.
- ``attention``: how much and where the UNet's cross-attention reads the negated object's tokens.
- ``attack``: prompts per pair, sampling per whole-chain seed, judged counts.
- ``ablation``: fine-tuning with and without true negations (whitebear-train).
- ``metrics``: whitebear's metrics (``WhitebearMetrics``) from the judged counts.
- ``pictures``: sample grids per prompt kind, attack-success bars, similarity heat maps.
"""
