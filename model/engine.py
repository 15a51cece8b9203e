"""The inference engine: ONNX Runtime + `tokenizers`, no torch, no transformers.

Input handling (the API contract):

* Texts are cleaned before tokenising: control characters (Unicode category C*, e.g. NUL, BEL,
  zero-width, bidi marks) become spaces; the result is stripped.
* A text that is empty after cleaning (``""``, whitespace, only control characters) is not sent
  to the model: it gets the fixed prediction ``label="neutral"``, ``probs={"neutral": 1.0, ...0}``,
  ``score=0.0``, ``topics=[]``.
* Everything else (emoji, non-English text, very long text) goes through the model. Emoji and
  characters outside the English vocabulary become ``[UNK]`` tokens; the model is trained on English
  financial text, so predictions for other languages are not meaningful (route them to another model
  with the ``language_models`` setting).
* Inputs longer than the model's token limit (``card.json`` ``max_length``, 96 word-pieces for the
  shipped model, special tokens included) are truncated at the end; ``Prediction.truncated`` says so.

Batches are built by token length (sorted, batched, order restored) to minimise padding.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finsentry.errors import ConfigError, ModelError
from finsentry.logs import get_logger

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

log = get_logger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
MULTILINGUAL_DIR = Path(__file__).resolve().parent / "multilingual"  # Polish + Chinese (+ English), int8 only
DEFAULT_CACHE = Path.home() / ".cache" / "finsentry" / "models"
_CUDA_LIBS = ("libcudart.so.13", "libcublas.so.13", "libcudnn.so.9")


@dataclass(frozen=True)
class Prediction:
    """One classified text. ``score`` = p(positive) - p(negative), in [-1, 1]."""

    label: str
    probs: dict[str, float]
    score: float
    topics: list[tuple[str, float]] = field(default_factory=list)
    truncated: bool = False


def clean_text(text: str) -> str:
    """Replace control/format characters with spaces and strip (see module docstring)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text).strip()


def cuda_usable() -> bool:
    """True only if ORT offers the CUDA provider AND its CUDA/cuDNN libraries load (no noisy ORT failure)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    for lib in _CUDA_LIBS:
        try:
            ctypes.CDLL(lib)
        except OSError:
            return False
    return True


def choose_provider(requested: str = "auto") -> str:
    """``auto`` -> ``cuda`` when usable, else ``cpu``; ``cuda`` when unusable raises ConfigError."""
    if requested not in ("auto", "cuda", "cpu"):
        raise ConfigError(f"provider must be auto, cuda or cpu, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    usable = cuda_usable()
    if requested == "cuda" and not usable:
        raise ConfigError("provider=cuda requested but the CUDA provider or its libraries are not available")
    return "cuda" if usable else "cpu"


class Classifier:
    """Sentiment + topic classifier over one ONNX session. Build it with :func:`load_classifier`."""

    def __init__(self, session: InferenceSession, tokenizer: Tokenizer, card: dict[str, Any], *, provider: str,
                 variant: str, topic_threshold: float = 0.3, batch_size: int = 32) -> None:
        self._session = session
        self._tok = tokenizer
        self.card = card
        self.provider = provider
        self.variant = variant
        self.version = str(card.get("version", "unknown"))
        self.max_length = int(card["max_length"])
        self.sentiment_labels: tuple[str, ...] = tuple(card["sentiment_labels"])
        self.topic_labels: tuple[str, ...] = tuple(card["topic_labels"])
        self.topic_threshold = topic_threshold
        self.batch_size = batch_size
        self._input_names = {i.name for i in session.get_inputs()}

    def _empty(self) -> Prediction:
        probs = {lab: (1.0 if lab == "neutral" else 0.0) for lab in self.sentiment_labels}
        return Prediction(label="neutral", probs=probs, score=0.0, topics=[])

    def probabilities(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
        """Raw (sentiment, topic) probability matrices in input order, plus a truncated flag per text."""
        n = len(texts)
        s_out = np.zeros((n, len(self.sentiment_labels)), np.float32)
        t_out = np.zeros((n, len(self.topic_labels)), np.float32)
        if n == 0:
            return s_out, t_out, []
        encs = self._tok.encode_batch(list(texts))
        truncated = [bool(e.overflowing) for e in encs]
        order = sorted(range(n), key=lambda i: len(encs[i].ids))
        for j in range(0, n, self.batch_size):
            idx = order[j:j + self.batch_size]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), np.int64)
            mask = np.zeros((len(idx), width), np.int64)
            for row, i in enumerate(idx):
                k = len(encs[i].ids)
                ids[row, :k] = encs[i].ids
                mask[row, :k] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            s, t = self._session.run(["sentiment_probs", "topic_probs"], feeds)
            s_out[idx], t_out[idx] = s, t
        return s_out, t_out, truncated

    def classify(self, texts: list[str]) -> list[Prediction]:
        """One :class:`Prediction` per text, in input order. Empty list in -> empty list out."""
        cleaned = [clean_text(t) for t in texts]
        live = [i for i, t in enumerate(cleaned) if t]
        s, t, trunc = self.probabilities([cleaned[i] for i in live])
        out: list[Prediction] = [self._empty()] * len(cleaned)
        pos = self.sentiment_labels.index("positive")
        neg = self.sentiment_labels.index("negative")
        for row, i in enumerate(live):
            sp, tp = s[row], t[row]
            topics = sorted(
                ((self.topic_labels[k], float(p)) for k, p in enumerate(tp) if p >= self.topic_threshold),
                key=lambda x: -x[1],
            )
            out[i] = Prediction(
                label=self.sentiment_labels[int(sp.argmax())],
                probs={lab: float(p) for lab, p in zip(self.sentiment_labels, sp, strict=True)},
                score=float(sp[pos] - sp[neg]),
                topics=topics,
                truncated=trunc[row],
            )
        return out


def _read_card(path: Path) -> dict[str, Any]:
    try:
        card: dict[str, Any] = json.loads((path / "card.json").read_text())
        return card
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: missing or unreadable card.json ({exc})") from exc


def _int8_file(path: Path, card: dict[str, Any], cache_dir: Path | None) -> Path:
    """A model dir's own ``model.int8.onnx``, else the one derived from fp16 and cached by content hash."""
    from model.convert import derive_int8

    local = path / "model.int8.onnx"
    if local.exists():
        return local
    fp16 = path / "model.fp16.onnx"
    if not fp16.exists():
        raise ModelError(f"{path}: neither model.int8.onnx nor model.fp16.onnx present")
    digest = (
        card.get("files", {}).get("model.fp16.onnx", {}).get("sha256")
        or hashlib.sha256(fp16.read_bytes()).hexdigest()
    )
    cached = Path(cache_dir or DEFAULT_CACHE) / digest[:16] / "model.int8.onnx"
    if not cached.exists():
        log.info("model.int8_derive", source=str(fp16), cache=str(cached))
        derive_int8(fp16, cached)
    return cached


def load_classifier(path: str | Path | None = None, provider: str = "auto", *, variant: str | None = None,
                    threads: int = 0, topic_threshold: float = 0.3, batch_size: int = 32,
                    cache_dir: str | Path | None = None, onnx_file: str | Path | None = None) -> Classifier:
    """Load a model directory (None = the shipped model).

    ``variant``: ``int8`` (CPU default, derived from fp16 and cached under ``cache_dir``, default
    ``~/.cache/finsentry/models``) or ``fp16`` (CUDA default). ``threads``: ORT intra-op threads
    (0 = ORT's default). ``onnx_file`` forces a specific graph (used by export/bench).
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    path = Path(path) if path else SHIPPED_DIR
    card = _read_card(path)
    chosen = choose_provider(provider)
    variant = variant or ("fp16" if chosen == "cuda" else "int8")
    if onnx_file:
        model_file = Path(onnx_file)
    elif variant == "int8":
        model_file = _int8_file(path, card, Path(cache_dir) if cache_dir else None)
    elif variant in ("fp16", "fp32"):
        model_file = path / f"model.{variant}.onnx"
    else:
        raise ConfigError(f"variant must be int8, fp16 or fp32, not {variant!r}")
    if not model_file.exists():
        raise ModelError(f"model file not found: {model_file}")
    try:
        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception as exc:  # tokenizers raises a bare Exception type
        raise ModelError(f"{path}: cannot load tokenizer.json ({exc})") from exc
    tok.no_padding()
    tok.enable_truncation(max_length=int(card["max_length"]))
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if chosen == "cuda" else ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(model_file), so, providers=providers)
    except Exception as exc:  # ORT raises its own exception classes
        raise ModelError(f"cannot load {model_file}: {exc}") from exc
    actual = "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu"
    log.info("model.loaded", provider=actual, variant=variant, path=str(model_file), version=card.get("version"),
             threads=threads or "default")
    return Classifier(session, tok, card, provider=actual, variant=variant,
                      topic_threshold=topic_threshold, batch_size=batch_size)
