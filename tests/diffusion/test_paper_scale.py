"""The paper-scale path on tiny random stand-ins: CLIP's text model and tokenizer (start/end tokens, its embedding
table, padding to full length without an attention mask) and Stable Diffusion 1.5's UNet block structure and
attention layout, driven by ``StableDiffusionPipeline`` with orthoemb's processors."""

import json
import string

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
from diffusers.models.attention_processor import AttnProcessor2_0
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from revis.diffusion.attention import install_processors
from revis.diffusion.customize import ARMS, SwapSettings, accepts_attention_masks, context_kwargs, customize
from revis.diffusion.orthogonal import OrthogonalProjectionProcessor, VisualTokenState, orthogonality_residual
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.stable_diffusion import (
    SD15_DOWN_BLOCKS,
    SD15_TRANSFORMER_BLOCKS,
    SD15_UP_BLOCKS,
    sd15_like_unet,
)
from revis.diffusion.subject_encoder import compose
from revis.diffusion.swap import SelfAttentionSwapProcessor, SwapController, self_attention_layers
from revis.diffusion.text import TextEncoder
from revis.orthoemb.model import new_subject_encoder, pipeline_text_encoder

LENGTH = 16  # CLIP's 77, shortened


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A tiny CLIP tokenizer (character BPE with a few merges) and a random 2-layer CLIP text model."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("clip")
    chars = list(string.ascii_lowercase) + list("*!,.")
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = ["r e", "re d</w>", "t h", "th e</w>"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=LENGTH)
    torch.manual_seed(0)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config).eval(), tokenizer


@pytest.fixture(scope="module")
def encoder(clip):
    model, tokenizer = clip
    return TextEncoder.from_components(model, tokenizer, name="tiny-clip", max_length=None)


@pytest.fixture(scope="module")
def sd(clip):
    """Stable Diffusion's pipeline class on SD 1.5's UNet layout (tiny widths), a tiny VAE and the tiny CLIP."""
    model, tokenizer = clip
    torch.manual_seed(0)
    unet = sd15_like_unet(width=8, cross_attention_dim=32, sample_size=8, norm_num_groups=8).eval()
    vae = AutoencoderKL(
        block_out_channels=(8,), latent_channels=4, norm_num_groups=8, sample_size=8, layers_per_block=1
    ).eval()
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=model,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(
            beta_schedule="scaled_linear",
            beta_start=0.00085,
            beta_end=0.012,
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_clip_encoder_pads_to_full_length_with_start_and_end_tokens(encoder, clip):
    model, tokenizer = clip
    assert encoder.kind == "clip" and encoder.full_padding and encoder.max_length == LENGTH
    assert encoder.start_token_id == tokenizer.bos_token_id and encoder.end_token_id == tokenizer.eos_token_id
    assert encoder.embedding_table is model.get_input_embeddings()
    tokens = encoder.tokens("a red circle")
    assert tokens[0] == "<|startoftext|>" and tokens[-1] == "<|endoftext|>" and "red</w>" in tokens
    states, mask = encoder.encode(["a red circle", ""])
    assert states.shape == (2, LENGTH, 32) and bool(mask.all())  # Stable Diffusion reads every row
    ids = tokenizer(["a red circle", ""], padding="max_length", max_length=LENGTH, return_tensors="pt").input_ids
    with torch.no_grad():
        direct = model(input_ids=ids).last_hidden_state  # encode_prompt of StableDiffusionPipeline: no mask
    torch.testing.assert_close(states, direct)
    # input embeddings (CLIP's model takes none: the hook route) reproduce the token states
    again = encoder.encode_embeds(encoder.token_embeddings(ids), torch.ones_like(ids, dtype=torch.bool))
    torch.testing.assert_close(again, direct)


def test_compose_on_clip_places_visual_rows_between_start_and_end(encoder):
    visual = torch.randn(2, 3, 32, requires_grad=True)
    composed = compose(encoder, ["a S* on the left", "S*"], visual)
    assert composed.states.shape == (2, LENGTH, 32) and bool(composed.mask.all())
    assert composed.visual.sum(1).tolist() == [3, 3]
    assert composed.visual[1, 1:4].all() and composed.visual[0, 2:5].all()  # right after <start> (and "a")
    assert composed.special[:, 0].all() and composed.special.sum(1).tolist() == [2, 2]  # <start> and one <end>
    n_words = len(encoder.tokens("a on the left")) - 2
    assert composed.words[0].sum() == n_words and composed.words[1].sum() == 0
    padding = ~(composed.visual | composed.words | composed.special)
    assert padding[0].sum() == LENGTH - 3 - 2 - n_words  # the pad rows span no basis
    # without visual tokens compose equals the plain encoding; the visual rows reach every later row (causal)
    plain = compose(encoder, ["a red circle"], None)
    torch.testing.assert_close(plain.states, encoder.encode(["a red circle"])[0])
    (composed.states[0, -1] * torch.arange(32.0)).sum().backward()  # not .sum(): a layer-normed row sums to 0
    assert visual.grad is not None and visual.grad[0].abs().sum() > 0 and visual.grad[1].abs().sum() == 0
    mapper = new_subject_encoder(encoder, 8, 2, 8)
    torch.testing.assert_close(mapper.anchor, encoder.embedding_table.weight.mean(0))


def test_sd15_like_unet_has_the_real_layer_structure(sd):
    unet = sd.unet
    assert tuple(unet.config.down_block_types) == SD15_DOWN_BLOCKS
    assert tuple(unet.config.up_block_types) == SD15_UP_BLOCKS
    assert unet.config.layers_per_block == 2 and unet.config.attention_head_dim == 8
    names = list(unet.attn_processors)
    for part, count in SD15_TRANSFORMER_BLOCKS.items():
        assert sum(n.startswith(part) and ".attn1." in n for n in names) == count
        assert sum(n.startswith(part) and ".attn2." in n for n in names) == count
    assert len(self_attention_layers(unet, "decoder")) == 9 and len(self_attention_layers(unet, "encoder")) == 6
    assert {unet.get_submodule(n.rsplit(".processor", 1)[0]).heads for n in names} == {8}


def test_stable_diffusion_takes_no_masks_and_a_masked_context_is_refused(sd, encoder):
    assert not accepts_attention_masks(sd)
    assert accepts_attention_masks(MiniT2IPipeline.__new__(MiniT2IPipeline))
    states = torch.zeros(2, LENGTH, 32)
    full = torch.ones(2, LENGTH, dtype=torch.bool)
    assert set(context_kwargs(sd, states, full, states, full)) == {"prompt_embeds", "negative_prompt_embeds"}
    masked = full.clone()
    masked[:, -3:] = False  # a BERT-style padded context would lose its mask silently
    with pytest.raises(ValueError, match="reads no attention mask"):
        context_kwargs(sd, states, masked, states, full)


def test_customize_drives_stable_diffusion_like_its_own_prompt_encoding(sd, encoder):
    prompts = ["a red circle on the left", "a blue square"]
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = customize(sd, encoder, prompts, None, noise, ARMS["text"], steps=3, guidance_scale=2.5)
    own = sd(
        prompts, negative_prompt=["", ""], latents=noise, num_inference_steps=3, guidance_scale=2.5, output_type="np"
    ).images
    assert np.array_equal(ours, (np.clip(own, 0, 1) * 255).round().astype(np.uint8))
    assert all(type(p) is AttnProcessor2_0 for p in sd.unet.attn_processors.values())


def test_each_fix_changes_stable_diffusion_outputs(sd, encoder):
    visual = torch.randn(2, 2, 32, generator=torch.Generator().manual_seed(2)) * 3
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    prompts = ["a S* on the left", "a S* at the top"]
    images = {
        name: customize(sd, encoder, prompts, visual, noise, ARMS[name], swap=SwapSettings("decoder", 1), steps=3)
        for name in ("visual", "full", "mean", "swap", "both")
    }
    assert all(im.shape == (2, 8, 8, 3) for im in images.values())
    for a, b in [("visual", "full"), ("visual", "mean"), ("visual", "swap"), ("full", "both")]:
        assert not np.array_equal(images[a], images[b]), (a, b)


def test_processors_on_the_sd15_layout(sd, encoder):
    unet = sd.unet
    visual = torch.randn(2, 2, 32)
    composed = compose(encoder, ["a S* on the left", "a S*"], visual)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([500, 20])
    with torch.no_grad():
        unet.set_attn_processor(AttnProcessor2_0())
        stock = unet(x, t, encoder_hidden_states=composed.states).sample
        state = VisualTokenState()
        state.set(composed.visual, composed.basis("words"))
        install_processors(unet, cross=lambda _: OrthogonalProjectionProcessor(state, "none"))
        none = unet(x, t, encoder_hidden_states=composed.states).sample
        install_processors(unet, cross=lambda _: OrthogonalProjectionProcessor(state, "full"))
        full = unet(x, t, encoder_hidden_states=composed.states).sample
        projected = state.project(composed.states, "full")
        unet.set_attn_processor(AttnProcessor2_0())
    assert torch.equal(stock, none) and not torch.allclose(stock, full)
    assert orthogonality_residual(projected, composed.visual, composed.basis("words")) < 1e-5
    # the swap on SD 1.5's decoder: 9 self-attention layers per swapped step, the reference sample untouched
    controller = SwapController(set(self_attention_layers(unet, "decoder")), start_step=0, groups=1)
    previous = install_processors(unet, self_attention=lambda layer: SelfAttentionSwapProcessor(controller, layer))
    controller.attach(unet)
    try:
        with torch.no_grad():
            swapped = unet(x, t, encoder_hidden_states=composed.states).sample
    finally:
        controller.detach()
        unet.set_attn_processor(previous)
    assert len(controller.log) == 9
    assert torch.equal(swapped[1], stock[1]) and not torch.allclose(swapped[0], stock[0])


def test_pipeline_text_encoder_of_stable_diffusion_uses_the_tokenizer_length(sd):
    encoder = pipeline_text_encoder(sd)
    assert encoder.kind == "clip" and encoder.max_length == LENGTH
