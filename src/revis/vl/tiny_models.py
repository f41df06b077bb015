"""Tiny random-weight text and CLIP models written to a folder, for offline tests and smoke runs.

They have the real architectures and file layouts (``save_pretrained`` folders with tokenizer
files) at a few thousand parameters, so every code path that loads a local model -- the MiniLM
text tower, ``CLIPModel`` / ``CLIPProcessor`` -- runs without downloading anything. Their
outputs mean nothing.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import torch

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def write_tiny_bert(folder: str | Path, hidden: int = 16, layers: int = 3, seed: int = 0) -> Path:
    """A random BERT with the packaged MiniLM's tokenizer (same vocabulary), as a local folder."""
    from transformers import BertConfig, BertModel

    from revis.vl.towers import minilm_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = minilm_path()
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, folder / name)
    vocab = sum(1 for _ in (source / "vocab.txt").open())
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    return folder


def write_tiny_clip(folder: str | Path, image_size: int = 32, hidden: int = 16, layers: int = 3, seed: int = 0) -> Path:
    """A random CLIPModel with a character-level BPE tokenizer and a CLIPImageProcessor, as a local folder."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(string.ascii_lowercase + string.digits + ".,:;!?'-")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in symbols:
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(f"{symbol}</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    tokenizer.save_pretrained(folder)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": hidden,
            "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": 2,
            "image_size": image_size,
            "patch_size": 8,
        },
        projection_dim=8,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    ).save_pretrained(folder)
    return folder
