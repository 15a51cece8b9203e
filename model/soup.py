"""Weight averaging ("model soup") of fine-tuned checkpoints that share one base encoder.

Runs fine-tuned from the same pre-trained weights usually stay in one basin, so the average of their
weights is a single model that tends to beat each ingredient, at no inference cost (Wortsman et al.,
2022). Training-only module (imports torch).
"""

from __future__ import annotations

from pathlib import Path

import torch

from finsentry.errors import ModelError
from model.train import load_checkpoint, save_checkpoint


def average_checkpoints(paths: list[Path], out: Path) -> dict:
    """Write the uniform weight average of ``paths`` to ``out`` as a normal training checkpoint."""
    if len(paths) < 2:
        raise ModelError("a soup needs at least two checkpoints")
    loaded = [load_checkpoint(Path(p)) for p in paths]
    metas = [m for _, _, m in loaded]
    keys = ("base", "sentiment_labels", "topic_labels", "pooling", "max_length")
    for p, m in zip(paths[1:], metas[1:]):
        differs = [k for k in keys if m.get(k) != metas[0].get(k)]
        if differs:
            raise ModelError(f"{p} differs from {paths[0]} in {', '.join(differs)}; only runs from one base can be averaged")
    net, tok, _ = loaded[0]
    states = [n.state_dict() for n, _, _ in loaded]
    avg = {}
    for name, tensor in states[0].items():
        if tensor.is_floating_point():
            avg[name] = torch.stack([s[name] for s in states]).mean(0)
        else:  # integer buffers (position ids) are identical constants
            avg[name] = tensor
    net.load_state_dict(avg)
    meta = {k: metas[0][k] for k in keys} | {"step": None, "soup_of": [str(p) for p in paths]}
    save_checkpoint(net, tok, Path(out), meta)
    return meta

