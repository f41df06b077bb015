"""Interactive text-video retrieval (MERLIN, arXiv 2407.12508): ranking, SLERP, questioners, a simulated user.

- ``ranking``: cosine ranking of a whole gallery (vectorised), R@1/5/10, MdR, MnR
- ``slerp``: the MERLIN query update with both alpha conventions, stable at theta ~ 0 and ~ pi
- ``slots``: the video world's attribute slots read from text (captions, queries, answers)
- ``questioners``: rule-based, entropy-based and LLM questioners behind one interface
- ``llm``: chat backends (OpenAI-compatible HTTP endpoint, local transformers causal LM)
- ``user``: the simulated user answering from the target's per-clip descriptions
- ``interactive``: the round loop over all queries at once
- ``embedding``: gallery pooling (mean / attention) and cached text embedders (vl tower, MiniLM)
- ``queries``: queries naming some attributes of a target video's event (and, optionally, its background)
- ``real_data``: MSR-VTT 1k-A, MSVD and ActivityNet Captions annotations + pre-extracted embeddings
- ``benchmark``: ``python -m revis.retrieval.benchmark`` (vectorised vs looped ranking)
"""
