"""orthoemb's attention processors on a tiny random-weight UNet: projection (full / mean / none), the swap, and
visual pseudo-tokens through the text transformer; a tiny end-to-end generation per arm."""

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from revis.diffusion.attention import install_processors
from revis.diffusion.customize import ARMS, SwapSettings, customize
from revis.diffusion.orthogonal import (
    OrthogonalProjectionProcessor,
    VisualTokenState,
    orthogonality_residual,
    project_visual_rows,
    text_basis,
)
from revis.diffusion.pipeline import MiniT2IPipeline
from revis.diffusion.subject_encoder import (
    SubjectAlignment,
    SubjectEncoder,
    SubjectTraining,
    align_subject_encoder,
    compose,
    pooled_states,
    train_subject_encoder,
)
from revis.diffusion.swap import SelfAttentionSwapProcessor, SwapController, self_attention_layers, swap_keys_values
from revis.diffusion.text import TextEncoder
from revis.diffusion.training import to_model_range
from revis.diffusion.unet import build_unet, sampling_scheduler, training_scheduler

TINY = {"block_out_channels": [8, 8], "attention": [False, True], "attention_head_dim": 4, "norm_num_groups": 4}


@pytest.fixture(scope="module")
def encoder():
    torch.set_num_threads(1)
    return TextEncoder()


@pytest.fixture(scope="module")
def pipe(encoder):
    torch.manual_seed(0)
    unet = build_unet(8, encoder.hidden_size, **TINY).eval()
    return MiniT2IPipeline(unet, sampling_scheduler(training_scheduler(), "ddim"), encoder.model, encoder.tokenizer)


def _states(seed=0, b=2, length=7, dim=12):
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(b, length, dim, generator=g) + 0.5  # a shared offset, as real token states have
    visual = torch.zeros(b, length, dtype=torch.bool)
    basis = torch.zeros(b, length, dtype=torch.bool)
    visual[:, 2:4] = True
    basis[:, 4:6] = True
    basis[1, 1] = True
    return states, visual, basis


def test_full_projection_makes_visual_rows_orthogonal_to_the_text_span():
    states, visual, basis = _states()
    out = project_visual_rows(states, visual, basis, "full")
    for b in range(2):
        t = states[b, basis[b]].double()
        assert (out[b, visual[b]].double() @ t.T).abs().max() < 1e-5  # orthogonal to every basis row
        assert torch.equal(out[b, ~visual[b]], states[b, ~visual[b]])  # nothing else moves
        # the removed part lies in the span: v - v_perp is a combination of the text rows
        removed = (states[b, visual[b]] - out[b, visual[b]]).double()
        coef = torch.linalg.lstsq(t.T, removed.T).solution
        assert torch.allclose(t.T @ coef, removed.T, atol=1e-5)
    assert orthogonality_residual(out, visual, basis) < 1e-5
    assert orthogonality_residual(states, visual, basis) > 0.1
    # projecting twice changes nothing more (a projector)
    assert torch.allclose(project_visual_rows(out, visual, basis, "full"), out, atol=1e-6)


def test_mean_projection_removes_the_mean_text_direction_only():
    states, visual, basis = _states(1)
    out = project_visual_rows(states, visual, basis, "mean")
    for b in range(2):
        m = states[b, basis[b]].mean(0)
        u = m / m.norm()
        v = states[b, visual[b]]
        expected = v - (v @ u)[:, None] * u[None]
        assert torch.allclose(out[b, visual[b]], expected, atol=1e-5)
        assert (out[b, visual[b]] @ m).abs().max() < 1e-4
    q = text_basis(states[0, basis[0]], "mean")
    assert q.shape == (12, 1) and abs(float(q.norm()) - 1) < 1e-9


def test_basis_of_dependent_rows_has_their_rank():
    rows = torch.randn(2, 10).repeat(3, 1)
    q = text_basis(rows, "full")
    assert q.shape[1] == 2 and torch.allclose(q.T @ q, torch.eye(2, dtype=q.dtype), atol=1e-9)


def test_rows_without_visual_or_basis_rows_are_unchanged():
    states, visual, basis = _states()
    visual[0] = False
    basis[1] = False
    out = project_visual_rows(states, visual, basis, "full")
    assert torch.equal(out, states)
    with pytest.raises(ValueError, match="visual and span"):
        project_visual_rows(states, visual | basis, basis, "full")


def _unet_out(unet, context, mask=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 8, 8, generator=g)
    return unet(x, torch.tensor([500, 20]), encoder_hidden_states=context, encoder_attention_mask=mask).sample


def test_projection_none_is_bit_identical_to_the_stock_processor(pipe, encoder):
    unet = pipe.unet
    composed = compose(encoder, ["a S* on the left", "a S*"], torch.randn(2, 2, encoder.hidden_size))
    unet.set_attn_processor(AttnProcessor2_0())
    with torch.no_grad():
        stock = _unet_out(unet, composed.states, composed.mask)
        state = VisualTokenState()
        state.set(composed.visual, composed.basis("words"))
        previous = install_processors(unet, cross=lambda _: OrthogonalProjectionProcessor(state, "none"))
        ours = _unet_out(unet, composed.states, composed.mask)
        unet.set_attn_processor(previous)
        install_processors(unet, cross=lambda _: OrthogonalProjectionProcessor(state, "full"))
        projected = _unet_out(unet, composed.states, composed.mask)
        unet.set_attn_processor(AttnProcessor2_0())
    assert torch.equal(stock, ours)
    assert not torch.allclose(stock, projected)  # the full projection reaches the UNet's output
    n_cross = sum(".attn2." in n for n in unet.attn_processors)
    assert n_cross > 0 and isinstance(OrthogonalProjectionProcessor(state), AttnProcessor2_0)


def test_visual_tokens_go_through_the_text_transformer_with_the_text(encoder):
    visual = torch.randn(2, 3, encoder.hidden_size)
    composed = compose(encoder, ["a S* in the top left corner", "S*"], visual)
    assert composed.visual.sum(1).tolist() == [3, 3]
    assert (
        composed.words[1].sum() == 0 and composed.words[0].sum() == len(encoder.tokens("a in the top left corner")) - 2
    )
    # without the placeholder the states equal the plain encoding of the text
    plain = compose(encoder, ["a red circle"], None)
    ref, _ = encoder.encode(["a red circle"])
    assert torch.allclose(plain.states, ref, atol=1e-5)
    # the text rows depend on the visual tokens (they attend to each other in the transformer)
    other = compose(encoder, ["a S* in the top left corner", "S*"], visual * 0 + 1)
    assert not torch.allclose(other.states[0, composed.words[0]], composed.states[0, composed.words[0]])
    with pytest.raises(ValueError, match="at most one"):
        compose(encoder, ["S* S*"], visual[:1])


def test_swap_copies_reference_keys_values_only_in_configured_layers_and_steps(pipe):
    unet = pipe.unet
    t = torch.arange(8.0).reshape(8, 1, 1)  # groups 2 x (main, ref) x n 2
    swapped = swap_keys_values(t, groups=2).flatten().tolist()
    assert swapped == [2, 3, 2, 3, 6, 7, 6, 7]
    decoder = self_attention_layers(unet, "decoder")
    assert decoder and all(n.startswith("up_blocks") for n in decoder)
    everything = self_attention_layers(unet, "all")
    assert set(decoder) < set(everything)
    controller = SwapController(set(decoder), start_step=1, end_step=3, groups=1)
    previous = install_processors(unet, self_attention=lambda layer: SelfAttentionSwapProcessor(controller, layer))
    controller.attach(unet)
    g = torch.Generator().manual_seed(0)
    main, ref = torch.randn(1, 3, 8, 8, generator=g), torch.randn(1, 3, 8, 8, generator=g)
    context = torch.randn(2, 4, unet.config.cross_attention_dim, generator=g)
    try:
        with torch.no_grad():
            outs = [unet(torch.cat([main, ref]), torch.tensor([900 - 100 * s] * 2), context).sample for s in range(4)]
    finally:
        controller.detach()
        unet.set_attn_processor(previous)
    assert {step for step, _ in controller.log} == {1, 2}
    assert {layer for _, layer in controller.log} == set(decoder)
    assert len(controller.log) == 2 * len(decoder)
    # outside the swap the processor is the stock one; inside, the main sample changes and the reference does not
    unet.set_attn_processor(AttnProcessor2_0())
    with torch.no_grad():
        stock = [unet(torch.cat([main, ref]), torch.tensor([900 - 100 * s] * 2), context).sample for s in range(4)]
    for s in range(4):
        assert torch.equal(outs[s][1], stock[s][1])
        assert torch.equal(outs[s][0], stock[s][0]) == (s not in (1, 2))


def test_each_arm_generates_and_both_fixes_change_the_images(pipe, encoder):
    visual = torch.randn(3, 2, encoder.hidden_size)
    noise = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    prompts = ["a S* on the left", "a S* at the top", "a S*"]
    images = {}
    for name, arm in ARMS.items():
        texts = [p.replace("S*", "red circle") for p in prompts] if not arm.visual else prompts
        images[name] = customize(
            pipe, encoder, texts, visual, noise, arm, swap=SwapSettings("decoder", 1), steps=3, batch_size=2
        )
        assert images[name].shape == (3, 8, 8, 3) and images[name].dtype == np.uint8
    assert not np.array_equal(images["visual"], images["full"])
    assert not np.array_equal(images["visual"], images["swap"])
    assert not np.array_equal(images["full"], images["mean"])
    again = customize(pipe, encoder, prompts, visual, noise, ARMS["both"], swap=SwapSettings("decoder", 1), steps=3)
    assert np.array_equal(again, images["both"])  # batch size does not change a picture
    assert all(type(p) is AttnProcessor2_0 for p in pipe.unet.attn_processors.values())  # processors restored


def test_subject_encoder_trains_through_the_frozen_unet(pipe, encoder):
    torch.manual_seed(0)
    images = np.random.default_rng(0).integers(0, 255, (6, 8, 8, 3), dtype=np.uint8)
    mapper = SubjectEncoder(
        8, 2, encoder.hidden_size, width=8, anchor=encoder.model.embeddings.word_embeddings.weight.mean(0)
    )
    before = [p.detach().clone() for p in mapper.parameters()]
    unet_before = [p.detach().clone() for p in pipe.unet.parameters()]
    history = train_subject_encoder(
        mapper, pipe.unet, training_scheduler(), encoder, images, ["a S*"] * 6, SubjectTraining(steps=2, batch_size=3)
    )
    assert len(history["loss"]) == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, mapper.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(unet_before, pipe.unet.parameters()))
    assert mapper(torch.zeros(1, 3, 8, 8)).shape == (1, 2, encoder.hidden_size)


def test_alignment_makes_visual_tokens_read_as_their_subject_phrase(encoder):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, (8, 8, 8, 3), dtype=np.uint8)
    labels = torch.tensor([0, 1] * 4)
    images[labels.numpy() == 0, ..., 0] += 200  # subject 0 red, subject 1 blue
    images[labels.numpy() == 1, ..., 2] += 200
    phrases = ["red circle", "blue square"]
    mapper = SubjectEncoder(8, 2, encoder.hidden_size, width=8, anchor=encoder.embedding_table.weight.mean(0))
    text_before = [p.detach().clone() for p in encoder.model.parameters()]

    def nearest() -> torch.Tensor:
        with torch.no_grad():
            visual = mapper(to_model_range(images))
            pooled = pooled_states(compose(encoder, ["a S*"] * 8, visual))
            targets = pooled_states(compose(encoder, [f"a {p}" for p in phrases], None))
        return (pooled @ targets.T).argmax(1)

    history = align_subject_encoder(
        mapper, encoder, images, labels, phrases, SubjectAlignment(steps=30, batch_size=8, lr=1e-2)
    )
    assert len(history["loss"]) == 30
    assert history["loss"][-1] < history["loss"][0]
    assert torch.equal(nearest(), labels)  # each image's tokens read as its own subject's phrase
    assert all(torch.equal(a, b) for a, b in zip(text_before, encoder.model.parameters()))  # text encoder frozen
    assert not align_subject_encoder(mapper, encoder, images, labels, phrases, SubjectAlignment(steps=0))["loss"]
