"""`finsentry model eval`: score a labelled CSV with the engine (no torch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from finsentry.errors import ConfigError
from finsentry.settings import Settings
from model.data import read_csv
from model.engine import Classifier, Prediction, clean_text
from model.scoring import classification_report


def evaluate_file(clf: Classifier, path: Path, *, text_col: str = "text", label_col: str = "label",
                  task: str = "sentiment") -> dict[str, Any]:
    """Classification report for ``path``; rows with no text or an unknown label are skipped and counted."""
    if task not in ("sentiment", "topic"):
        raise ConfigError(f"task must be sentiment or topic, not {task!r}")
    labels = clf.sentiment_labels if task == "sentiment" else clf.topic_labels
    lookup = {lab.lower(): lab for lab in labels}
    rows = read_csv(path, text_col, label_col)
    texts, gold, skipped = [], [], {"empty_text": 0, "unknown_label": 0}
    examples: dict[str, list[int]] = {"empty_text": [], "unknown_label": []}
    for line, row in enumerate(rows, start=2):
        text, label = row.get(text_col) or "", (row.get(label_col) or "").strip().lower()
        reason = "empty_text" if not clean_text(text) else "unknown_label" if label not in lookup else None
        if reason:
            skipped[reason] += 1
            examples[reason].append(line)
            continue
        texts.append(text)
        gold.append(lookup[label])
    if task == "sentiment":
        pred = [p.label for p in clf.classify(texts)]
    else:
        _, t, _ = clf.probabilities([clean_text(x) for x in texts])
        pred = [clf.topic_labels[i] for i in t.argmax(1)] if len(texts) else []
    report = classification_report(gold, pred, labels)
    report["skipped"] = {k: v for k, v in skipped.items() if v}
    report["skipped_lines"] = {k: v[:10] for k, v in examples.items() if v}
    report["task"] = task
    return report


# What the service does per text: (prediction or None when its language has no model, the language).
RouteFn = Callable[[Sequence[str]], list[tuple[Prediction | None, str | None]]]


def service_route(settings: Settings) -> RouteFn:
    """The service's per-item scoring outside the loop: the same detector, ``language_models`` table and
    :class:`~model.languages.ModelRouter` as ``finsentry run``; texts -> (prediction or None, language)."""
    from model.engine import load_classifier
    from model.languages import LanguageDetector, ModelRouter

    def load(path: str | None) -> Classifier:
        return load_classifier(path, provider=settings.provider, topic_threshold=settings.topic_threshold)

    router = ModelRouter(settings.language_models, load, settings.model_path)
    detector = LanguageDetector(preferred=router.languages)

    def route(texts: Sequence[str]) -> list[tuple[Prediction | None, str | None]]:
        langs: list[str | None] = [detector.language_of(t, None) for t in texts]
        return [(pred, lang) for (pred, _), lang in zip(router.classify(texts, langs), langs, strict=True)]

    return route


def evaluate_routed(route: RouteFn, path: Path, *, text_col: str = "text",
                    label_col: str = "label", labels: Sequence[str] = ("negative", "neutral", "positive"),
                    ) -> dict[str, Any]:
    """Sentiment metrics of the routed service (language detection + per-language model) on ``path``.

    Returns ``overall`` (scored rows), ``per_language`` (one report per detected language, with its
    model version) and ``unscored`` (rows per language that no model covers: they count as wrong in
    ``overall_with_unscored``, since the service would store them without a label).
    """
    lookup = {lab.lower(): lab for lab in labels}
    texts, gold, skipped = [], [], {"empty_text": 0, "unknown_label": 0}
    for row in read_csv(path, text_col, label_col):
        text, label = row.get(text_col) or "", (row.get(label_col) or "").strip().lower()
        reason = "empty_text" if not clean_text(text) else "unknown_label" if label not in lookup else None
        if reason:
            skipped[reason] += 1
            continue
        texts.append(text)
        gold.append(lookup[label])
    routed = route(texts) if texts else []
    by_lang: dict[str, tuple[list[str], list[str]]] = {}
    unscored: dict[str, int] = {}
    all_gold, all_pred, with_unscored = [], [], []
    for g, (pred, lang) in zip(gold, routed, strict=True):
        key = lang or "und"
        if pred is None:
            unscored[key] = unscored.get(key, 0) + 1
            with_unscored.append("")
            continue
        by_lang.setdefault(key, ([], []))
        by_lang[key][0].append(g)
        by_lang[key][1].append(pred.label)
        all_gold.append(g)
        all_pred.append(pred.label)
        with_unscored.append(pred.label)
    return {
        "overall": classification_report(all_gold, all_pred, list(labels)),
        "overall_with_unscored": {"accuracy": sum(a == b for a, b in zip(gold, with_unscored, strict=True))
                                  / max(1, len(gold)), "n": len(gold)},
        "per_language": {k: classification_report(g, p, list(labels)) for k, (g, p) in sorted(by_lang.items())},
        "unscored": unscored,
        "skipped": {k: v for k, v in skipped.items() if v},
    }
