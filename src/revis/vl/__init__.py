"""Vision-language dual encoders: towers split into blocks, a LiT-style tiny encoder, a local CLIP.

API for other pipelines (hlclip, merlin)::

    from revis.vl.checkpoint import load_encoder     # checkpoint dict or file -> DualEncoder
    encoder = load_encoder(checkpoints["seed0"])
    frames_z = encoder.embed_images(frames)           # uint8 (N, H, W, 3) -> (N, D), L2-normalised
    texts_z = encoder.embed_texts(["two red circles"])
    scores = frames_z @ texts_z.T                      # cosine similarities

- ``towers``: ``Tower`` (prepare / blocks / pool / project), ``ImageTower`` (registry patch_cnn or
  tiny_vit), ``MiniLMTower`` (offline all-MiniLM-L6-v2 + small head)
- ``clip``: ``transformers.CLIPModel`` from a local folder as two towers
- ``encoder``: ``DualEncoder``, ``set_trainable`` (last k blocks of both towers), prefix caching
- ``contrastive``: symmetric InfoNCE pretraining with a learned temperature
- ``retrieval``: recall@k of frame -> text retrieval
- ``checkpoint``: ``build_encoder``, ``encoder_checkpoint``, ``load_encoder``
"""
