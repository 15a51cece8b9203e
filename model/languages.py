"""Language of each item (declared or detected offline) and the language -> model routing.

Detection uses py3langid restricted to ``CANDIDATES`` (widely used news languages): unrestricted,
it labels short English headlines as e.g. Nigerian Pidgin (22 of 9,172 bundled English items);
restricted, 6 of 11,134 bundled items differ from the feed's declared language (one of them
really is Italian). Short texts are often ambiguous (``Jack Welch obituary``: de 0.21, en 0.19),
so when the best guess is below ``CONFIDENT`` a *covered* language (one with a model) scoring at
least half as much wins: 4 mismatches left, and on texts cut to 40 characters 46 instead of 118.
Items in a language with no configured model are stored unscored
(``label=None``) and kept out of the aggregates - never scored by the wrong model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from finsentry.errors import ConfigError
from finsentry.logs import get_logger
from model.engine import MULTILINGUAL_DIR

log = get_logger(__name__)

CANDIDATES = tuple(
    "en de fr es it pt nl pl ru uk cs sk sv da no fi tr ar zh ja ko hi id vi ro hu el he th bg hr sr sl "
    "lt lv et ms fa".split()
)
SHIPPED = "shipped"
MULTILINGUAL = "multilingual"  # the packaged multilingual model (model/multilingual), wherever installed
OTHER = "other"  # metric label of any language outside CANDIDATES (the producer controls `lang`)
CONFIDENT = 0.5


def normalize_lang(code: str | None) -> str | None:
    """'en-US' -> 'en', 'PL' -> 'pl', '' -> None (ISO 639-1 primary subtag)."""
    if not code:
        return None
    primary = code.strip().replace("_", "-").split("-")[0].lower()
    return primary or None


def metric_label(lang: str | None) -> str:
    """A bounded label for metrics: a candidate language, ``und`` (none), or ``other``.

    The declared ``lang`` comes from the producer: used as a label as is, 2,000 records with
    made-up codes made 2,000 series.
    """
    if lang is None:
        return "und"
    return lang if lang in CANDIDATES else OTHER


class _Ranker(Protocol):
    """The part of py3langid's ``LanguageIdentifier`` used here (py3langid ships no types)."""

    def set_languages(self, langs: list[str]) -> None: ...

    def rank(self, text: str) -> list[tuple[str, float]]: ...


class LanguageDetector:
    """Offline detection (py3langid), loaded once on first use (~0.2 ms per headline)."""

    def __init__(self, candidates: Sequence[str] = CANDIDATES, preferred: Sequence[str] = ()) -> None:
        self._candidates = list(dict.fromkeys([*candidates, *preferred]))
        self._preferred = set(preferred)
        self._ident: _Ranker | None = None

    def _load(self) -> _Ranker:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident: _Ranker = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        ident.set_languages(self._candidates)
        return ident

    def detect(self, text: str) -> str:
        if self._ident is None:
            self._ident = self._load()
        ranked = self._ident.rank(text)
        lang, p = ranked[0]
        if p < CONFIDENT:
            for other, q in ranked[:5]:
                if other in self._preferred and q >= 0.5 * p:
                    return str(other)
        return str(lang)

    def language_of(self, text: str, declared: str | None) -> str:
        return normalize_lang(declared) or self.detect(text)


class Classifier(Protocol):
    version: str
    provider: str

    def classify(self, texts: list[str]) -> list[Any]: ...


Loader = Callable[[str | None], Classifier]


class ModelRouter:
    """Language -> classifier, each distinct model loaded once.

    ``table`` is ``settings.language_models`` (e.g. ``{"en": "shipped", "de": "/models/de"}``);
    ``"shipped"`` means ``model_path`` when given (``--model``), else the model in ``model/shipped``;
    ``"multilingual"`` means the packaged ``model/multilingual``.
    """

    def __init__(self, table: Mapping[str, str], loader: Loader, model_path: str | None = None) -> None:
        if not table:
            raise ConfigError("language_models is empty: at least one language needs a model")
        self._by_lang: dict[str, Classifier] = {}
        loaded: dict[str | None, Classifier] = {}
        for lang, where in table.items():
            key = normalize_lang(lang)
            if key is None:
                raise ConfigError(f"language_models has an empty language code: {table!r}")
            path = {SHIPPED: model_path or None, MULTILINGUAL: str(MULTILINGUAL_DIR)}.get(where, where)
            if path not in loaded:
                loaded[path] = loader(path)
            self._by_lang[key] = loaded[path]
        self.models = list(loaded.values())
        log.info("router.ready", languages=sorted(self._by_lang),
                 models={k: getattr(v, "version", "?") for k, v in self._by_lang.items()})

    @property
    def languages(self) -> list[str]:
        return sorted(self._by_lang)

    def model_for(self, lang: str | None) -> Classifier | None:
        return self._by_lang.get(lang) if lang else None

    def classify(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[tuple[Any, str | None]]:
        """Predictions aligned with ``texts``: ``(prediction, model_version)`` or ``(None, None)``."""
        out: list[tuple[Any, str | None]] = [(None, None)] * len(texts)
        groups: dict[int, tuple[Classifier, list[int]]] = {}
        for i, lang in enumerate(langs):
            clf = self.model_for(lang)
            if clf is not None:
                groups.setdefault(id(clf), (clf, []))[1].append(i)
        for clf, idx in groups.values():
            preds = clf.classify([texts[i] for i in idx])
            for i, p in zip(idx, preds, strict=True):
                out[i] = (p, getattr(clf, "version", None))
        return out
