"""revis.retrieval: SLERP, rank metrics, questioners, the simulated user, the LLM clients, the round loop, readers."""

from __future__ import annotations

import json
import pickle
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import numpy as np
import pytest

from revis.retrieval.embedding import CachedTextEmbedder, pool_frames
from revis.retrieval.interactive import run_rounds
from revis.retrieval.llm import HttpChat, LLMError
from revis.retrieval.queries import Query
from revis.retrieval.questioners import (
    YES_NO_STARTS,
    Dialogue,
    EntropyQuestioner,
    LLMQuestioner,
    Question,
    RuleQuestioner,
    Turn,
)
from revis.retrieval.ranking import rank_metrics, target_ranks, target_ranks_loop, top_k
from revis.retrieval.slerp import slerp
from revis.retrieval.slots import parse_caption, parse_phrase
from revis.retrieval.user import SimulatedUser, slot_of_question

# ----------------------------------------------------------------------------- SLERP


def _unit(rng, n, d=16):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_slerp_keeps_unit_norm_and_hits_both_endpoints():
    rng = np.random.default_rng(0)
    a, b = _unit(rng, 50), _unit(rng, 50)
    for alpha in (0.0, 0.3, 0.8, 1.0):
        out = slerp(a, b, alpha)
        assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    # the history convention is the answer convention with 1 - alpha
    assert np.allclose(slerp(a, b, 0.8, "history"), slerp(a, b, 0.2, "answer"))
    # the angle travelled is t * theta, and slerp is symmetric
    theta = np.arccos(np.sum(a * b, 1))
    assert np.allclose(np.arccos(np.clip(np.sum(a * slerp(a, b, 0.8), 1), -1, 1)), 0.8 * theta, atol=1e-6)
    assert np.allclose(slerp(a, b, 0.8), slerp(b, a, 0.2))


def test_slerp_is_stable_at_zero_and_opposite_angles():
    rng = np.random.default_rng(1)
    a = _unit(rng, 4)
    same = slerp(a, a + 1e-9, 0.8)
    assert np.isfinite(same).all() and np.allclose(same, a, atol=1e-6)
    opposite = slerp(a, -a, 0.5)
    assert np.isfinite(opposite).all() and np.allclose(np.linalg.norm(opposite, axis=1), 1)
    assert np.allclose(np.sum(opposite * a, 1), 0, atol=1e-6)  # half-way between a and -a: orthogonal
    assert np.allclose(slerp(a, -a, 1.0), -a, atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        slerp(a, a, 1.5)


# ----------------------------------------------------------------------------- ranks


def test_rank_metrics_on_hand_made_ranks():
    metrics = rank_metrics([1, 2, 5, 10, 11, 100])
    assert metrics["r1"] == pytest.approx(100 / 6)
    assert metrics["r5"] == pytest.approx(300 / 6)
    assert metrics["r10"] == pytest.approx(400 / 6)
    assert metrics["mdr"] == 7.5 and metrics["mnr"] == pytest.approx(129 / 6)
    with pytest.raises(ValueError):
        rank_metrics([0, 1])


def test_target_ranks_hand_made_and_against_the_loop():
    gallery = np.eye(3)
    queries = np.array([[1.0, 0.1, 0.0], [1.0, 0.1, 0.0], [0.0, 0.0, 1.0]])
    assert target_ranks(queries, gallery, [0, 1, 2]).tolist() == [1, 2, 1]
    tie = np.array([[1.0, 1.0, 0.0]])
    assert target_ranks(tie, gallery, [0]).tolist() == [2]  # ties count against the query
    rng = np.random.default_rng(2)
    g, q, t = rng.normal(size=(40, 8)), rng.normal(size=(7, 8)), rng.integers(0, 40, 7)
    assert np.array_equal(target_ranks(q, g, t, chunk=3), target_ranks_loop(q, g, t))
    assert top_k(queries, gallery, 2)[2, 0] == 2


def test_pooling():
    frames = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    mean, attention = pool_frames(frames, "mean"), pool_frames(frames, "attention", 0.05)
    assert np.isclose(np.linalg.norm(attention), 1) and attention[0] > mean[0]  # typical frames weigh more


# ----------------------------------------------------------------------------- slots, questioners, user

CAPTIONS = [
    "On the grass: two red circles moving left, then a blue square standing still",
    "On the sand: two red circles moving left, then three green rings rising",
    "At night: two red triangles moving left",
    "In the snow: one yellow striped cross falling",
]


def test_captions_and_phrases_are_read_back():
    background, events = parse_caption(CAPTIONS[0])
    assert background == "grass" and events[0] == {
        "count": 2,
        "colour": "red",
        "shape": "circle",
        "motion": "left",
    }
    assert parse_phrase("Rising: a pair of lime plus signs over a green field") == {
        "background": "grass",
        "motion": "up",
        "count": 2,
        "colour": "green",
        "shape": "cross",
    }


def test_rule_questioner_never_repeats_a_slot_and_never_asks_yes_no():
    questioner = RuleQuestioner()
    dialogue = Dialogue("some red circles")
    slots = []
    while (question := questioner.ask(dialogue, CAPTIONS)) is not None:
        assert not question.text.lower().startswith(YES_NO_STARTS)
        assert question.text.rstrip().endswith("?")
        slots.append(question.slot)
        dialogue.turns.append(Turn(CAPTIONS[0], question, "an answer"))
    assert len(slots) == len(set(slots)) == 4  # count, texture, motion, background: colour and shape are named
    assert "colour" not in slots and "shape" not in slots


def test_entropy_questioner_asks_the_most_disputed_slot():
    dialogue = Dialogue("two red objects moving left")
    question = EntropyQuestioner().ask(dialogue, CAPTIONS[:3])
    assert question.slot in ("background", "shape")  # all three differ in background; shapes: circle, circle, triangle
    assert question.slot == "background"
    assert not question.text.lower().startswith(YES_NO_STARTS)


WORLD = {
    "v0": {
        "background": "grass",
        "events": [
            {"count": 2, "colour": "red", "texture": "plain", "shape": "circle", "motion": "left"},
            {"count": 1, "colour": "blue", "texture": "striped", "shape": "square", "motion": "still"},
        ],
        "clips": [{"event": None}, {"event": 0}, {"event": 0}, {"event": None}, {"event": 1}],
    },
    "v1": {
        "background": "night",
        "events": [{"count": 3, "colour": "green", "texture": "plain", "shape": "ring", "motion": "up"}],
        "clips": [{"event": 0}, {"event": 0}],
    },
}


def test_simulated_user_answers_from_the_target_frames():
    user = SimulatedUser(WORLD)
    query = Query(0, "v0", 0, 0, ("colour",), "some red shapes")
    answer = user.answer(query, "What shape are the objects?", "shape")
    assert answer.per_frame == [None, "circle", "circle", None, "square"]
    assert answer.values == ["circle"] and parse_phrase(answer.text)["shape"] == "circle"
    assert set(parse_phrase(answer.text)) == {"shape"}  # only the slot asked about, nothing restated
    restating = SimulatedUser(WORLD, restate=True).answer(query, "What shape?", "shape", context={"motion": "left"})
    assert parse_phrase(restating.text)["colour"] == "red"  # restate=True: the query's attributes too
    assert parse_phrase(restating.text)["motion"] == "left"  # and earlier answers
    assert user.answer(query, "Where is it?", None).values == ["grass"]  # slot read from the text
    assert slot_of_question("How many objects do you see?") == "count"
    assert user.answer(query, "Tell me more.", None).text is None
    control = user.answer(query, "What colour are they?", "colour", source="v1")
    assert control.values == ["green"]  # about the other video
    noisy = SimulatedUser(WORLD, wrong_rate=1.0)
    assert noisy.answer(query, "What shape?", "shape").values != ["circle"]


# ----------------------------------------------------------------------------- LLM clients


class _Handler(BaseHTTPRequestHandler):
    mode = "ok"
    seen: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append((body, self.headers.get("Authorization")))
        if _Handler.mode == "slow":
            time.sleep(1.0)
        if _Handler.mode == "error":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "model overloaded"}')
            return
        reply = {"choices": [{"message": {"content": " What colour are the objects? "}}]}
        if _Handler.mode == "bad":
            reply = {"nothing": True}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.mode, _Handler.seen = "ok", []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"
    server.shutdown()
    server.server_close()


def test_http_chat_request_and_response(chat_server, monkeypatch):
    monkeypatch.setenv("REVIS_TEST_KEY", "sk-test")
    client = HttpChat(chat_server, "tiny-model", api_key_env="REVIS_TEST_KEY", timeout=5)
    questioner = LLMQuestioner(client)
    dialogue = Dialogue("some red shapes")
    question = questioner.ask(dialogue, CAPTIONS)
    assert question.text == "What colour are the objects?"
    body, auth = _Handler.seen[-1]
    assert auth == "Bearer sk-test" and body["model"] == "tiny-model" and body["temperature"] == 0.2
    assert body["messages"][0]["role"] == "system" and "may not be" in body["messages"][0]["content"]
    assert CAPTIONS[0] in body["messages"][1]["content"] and "some red shapes" in body["messages"][1]["content"]
    dialogue.turns.append(Turn(CAPTIONS[0], question, "red circles"))
    questioner.ask(dialogue, CAPTIONS[1:])
    body, _ = _Handler.seen[-1]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert "answer: red circles" in body["messages"][3]["content"] and CAPTIONS[1] in body["messages"][3]["content"]
    assert body["temperature"] == 0.7


@pytest.mark.parametrize(
    ("mode", "message"), [("error", "HTTP 500"), ("slow", "did not answer within"), ("bad", "choices")]
)
def test_http_chat_failures_are_clear(chat_server, mode, message):
    _Handler.mode = mode
    with pytest.raises(LLMError, match=message):
        HttpChat(chat_server, "m", api_key_env=None, timeout=0.3).chat([{"role": "user", "content": "hi"}])


def test_unreachable_endpoint():
    with pytest.raises(LLMError, match=r"unreachable|did not answer"):
        HttpChat("http://127.0.0.1:9/v1/chat/completions", "m", timeout=0.5).chat([])


def test_round_loop_skips_or_stops_on_llm_errors(chat_server):
    _Handler.mode = "error"
    queries = [Query(0, "v0", 0, 0, ("colour",), "some red shapes"), Query(1, "v1", 1, 0, ("shape",), "rings")]
    gallery = np.eye(4)[:2]
    query_z = np.array([[1.0, 0.2, 0.1, 0.0], [0.1, 1.0, 0.0, 0.1]])
    embedder = CachedTextEmbedder(lambda texts: np.ones((len(texts), 4)))
    questioner = LLMQuestioner(HttpChat(chat_server, "m", api_key_env=None, timeout=2))
    kwargs = dict(rounds=2, k=2)
    result = run_rounds(queries, query_z, gallery, ["a", "b"], questioner, SimulatedUser(WORLD), embedder, **kwargs)
    assert len(result.errors) == 4 and "HTTP 500" in result.errors[0]
    assert (result.ranks == result.ranks[0]).all()  # nothing folded in, the loop went on
    with pytest.raises(LLMError, match="HTTP 500"):
        run_rounds(
            queries, query_z, gallery, ["a", "b"], questioner, SimulatedUser(WORLD), embedder, on_error="stop", **kwargs
        )


def test_round_loop_folds_answers_in():
    queries = [Query(0, "v0", 0, 0, ("colour",), "some red shapes")]
    texts = []

    def fn(batch):
        texts.extend(batch)
        return np.tile(np.array([[1.0, 0.0]]), (len(batch), 1))

    result = run_rounds(
        queries,
        np.array([[0.2, 1.0]]),
        np.array([[1.0, 0.0], [0.0, 1.0]]),
        CAPTIONS[:2],
        RuleQuestioner(),
        SimulatedUser(WORLD),
        CachedTextEmbedder(fn),
        rounds=2,
        k=2,
    )
    assert result.ranks[:, 0].tolist() == [2, 1, 1] and result.answered.tolist() == [1, 1]
    # the rule questioner asks count, then texture (colour is named by the query): one slot per answer
    assert [set(parse_phrase(t)) for t in texts] == [{"count"}, {"texture"}]


@pytest.mark.integration
def test_transformers_backend_with_a_tiny_random_model(tmp_path):
    from revis.retrieval.llm import TransformersChat, write_tiny_causal_lm

    folder = write_tiny_causal_lm(tmp_path / "lm")
    chat = TransformersChat(folder)
    question = LLMQuestioner(chat, max_tokens=5).ask(Dialogue("some red shapes"), CAPTIONS)
    assert isinstance(question, Question) and question.text
    with pytest.raises(LLMError, match="does not exist"):
        TransformersChat(tmp_path / "missing")


# ----------------------------------------------------------------------------- real-data readers


def test_real_benchmark_readers(tmp_path):
    from revis.retrieval.real_data import load_benchmark, read_activitynet, read_msrvtt, read_msvd

    csv_file = tmp_path / "MSRVTT_JSFUSION_test.csv"
    csv_file.write_text(
        "key,vid_key,video_id,sentence\n"
        "ret0,msr7579,video7579,a girl wearing red top and black trouser is putting a sweater on a dog\n"
        "ret1,msr7725,video7725,young people sit around the edges of a room clapping and raising their arms\n"
    )
    assert read_msrvtt(csv_file)[1] == (
        "video7725",
        "young people sit around the edges of a room clapping and raising their arms",
    )
    data_json = tmp_path / "MSRVTT_data.json"
    data_json.write_text(
        json.dumps(
            {
                "videos": [{"video_id": "video0", "split": "train"}],
                "sentences": [
                    {"caption": "a car is shown", "video_id": "video0", "sen_id": 0},
                    {"caption": "a red car", "video_id": "video0", "sen_id": 1},
                ],
            }
        )
    )
    assert read_msrvtt(data_json) == [("video0", "a car is shown")]
    msvd = tmp_path / "msvd"
    msvd.mkdir()
    (msvd / "test_list.txt").write_text("-4wsuPCjDBc_5_15\n")
    (msvd / "raw-captions.pkl").write_bytes(
        pickle.dumps({"-4wsuPCjDBc_5_15": [["a", "squirrel", "is", "eating", "a", "peanut"]]})
    )
    assert read_msvd(msvd) == [("-4wsuPCjDBc_5_15", "a squirrel is eating a peanut")]
    anet = tmp_path / "val_1.json"
    anet.write_text(
        json.dumps(
            {
                "v_uqiMw7tQ1Cc": {
                    "duration": 55.15,
                    "timestamps": [[0.28, 55.15], [13.79, 54.32]],
                    "sentences": ["A weight lifting tutorial is given.", " The coach helps the guy."],
                }
            }
        )
    )
    assert read_activitynet(anet)[0][1] == "A weight lifting tutorial is given. The coach helps the guy."
    for kind in ("video", "text"):
        (tmp_path / "emb" / f"{kind}_embeddings").mkdir(parents=True)
        for i, vid in enumerate(("video7579", "video7725")):
            np.save(tmp_path / "emb" / f"{kind}_embeddings" / f"{vid}.npy", np.eye(4)[i][None])
    bench = load_benchmark("msrvtt", str(csv_file), str(tmp_path / "emb"))
    assert target_ranks(bench["query_z"].numpy(), bench["gallery"].numpy(), bench["targets"]).tolist() == [1, 1]
    from revis.datasets.imageset import DataError

    with pytest.raises(DataError, match=r"video7725\.npy"):
        (tmp_path / "emb" / "video_embeddings" / "video7725.npy").unlink()
        load_benchmark("msrvtt", str(csv_file), str(tmp_path / "emb"))


def test_with_fewer_rounds_than_open_slots_the_questioner_choice_changes_the_ranking():
    """A slot-reading embedder (one block of dimensions per slot value) on a generated world: answers that
    name only the asked slot move the query towards the videos with that value, so two questioners that
    ask different slots end at different ranks -- and answers about another video do not help."""
    from revis.retrieval.queries import sample_queries
    from revis.retrieval.slots import SLOT_VALUES
    from revis.world.videos import WorldConfig, generate_video_world

    axes = [(slot, value) for slot, values in SLOT_VALUES.items() for value in values]

    def embed(texts):
        out = np.full((len(texts), len(axes)), 0.01)
        for row, text in enumerate(texts):
            background, events = parse_caption(text)
            found = events or [parse_phrase(text)]
            for slots in found:
                for slot, value in {**slots, **({"background": background} if background else {})}.items():
                    if (slot, value) in axes:
                        out[row, axes.index((slot, value))] += 1.0
        return out

    world = generate_video_world(WorldConfig(seed=3, n_families=30, clips=(10, 14), segment_length=(3, 4)))
    meta = world.world()["videos"]
    gallery = sorted(meta)
    captions = [meta[v]["caption"] for v in gallery]
    gallery_z = CachedTextEmbedder(embed).embed(captions)
    queries = [q for q in sample_queries(meta, gallery, 60, [1], seed=0)]
    query_z = CachedTextEmbedder(embed).embed([q.text for q in queries])
    results = {}
    for name, questioner, sources in (
        ("rule", RuleQuestioner(), None),
        ("entropy", EntropyQuestioner(), None),
        ("control", RuleQuestioner(), [gallery[(q.target + 1) % len(gallery)] for q in queries]),
    ):
        result = run_rounds(
            queries,
            query_z,
            gallery_z,
            captions,
            questioner,
            SimulatedUser(meta),
            CachedTextEmbedder(embed),
            rounds=2,
            k=10,
            sources=sources,
        )
        assert result.asked.tolist() == [len(queries)] * 2  # 1 slot named: 5 open, 2 asked
        results[name] = result
    rule, entropy, control = (results[n] for n in ("rule", "entropy", "control"))
    asked = {n: [[t.question.slot for t in d.turns] for d in r.dialogues] for n, r in results.items()}
    assert asked["rule"] != asked["entropy"]
    assert not np.array_equal(rule.ranks[-1], entropy.ranks[-1])
    assert rule.ranks[-1].mean() < rule.ranks[0].mean()  # the target's answers help
    assert control.ranks[-1].mean() > rule.ranks[-1].mean()  # another video's answers do not


def test_queries_can_name_the_background_without_changing_the_rest():
    from revis.retrieval.queries import sample_queries
    from revis.world.videos import WorldConfig, generate_video_world

    meta = generate_video_world(WorldConfig(seed=3, n_families=12, clips=(10, 14), segment_length=(3, 4))).meta[
        "videos"
    ]
    gallery = sorted(meta)
    plain = sample_queries(meta, gallery, 30, [1, 2], seed=0)
    assert [q.to_dict() for q in plain] == [q.to_dict() for q in sample_queries(meta, gallery, 30, [1, 2], 0, 0.0)]
    placed = sample_queries(meta, gallery, 30, [1, 2], seed=0, background=1.0)
    assert [q.target for q in placed] == [q.target for q in plain]
    for query in placed:
        said = parse_phrase(query.text)
        assert said["background"] == meta[query.vid]["background"], query.text
        assert {a for a in said if a not in ("background", "count")} <= set(query.named), query.text
        assert query.vagueness in (1, 2)  # the background is not counted as a named attribute
    dialogue = Dialogue(placed[0].text)
    assert "background" in dialogue.covered()  # no questioner asks where a query already says
