"""The multi-task network: one shared encoder, one forward pass, two heads (training/export only)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel


class MultiTaskClassifier(nn.Module):
    """Mean-pooled transformer encoder with a sentiment head and a topic head.

    ``forward`` returns logits; ``probs`` returns softmax probabilities (what the ONNX graph outputs).
    """

    def __init__(self, encoder: PreTrainedModel, n_sentiment: int, n_topic: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.sentiment_head = nn.Linear(hidden, n_sentiment)
        self.topic_head = nn.Linear(hidden, n_topic)

    @classmethod
    def from_base(cls, base: str, n_sentiment: int, n_topic: int) -> MultiTaskClassifier:
        return cls(AutoModel.from_pretrained(base), n_sentiment, n_topic)

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden: torch.Tensor = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(self.pooled(input_ids, attention_mask))
        return self.sentiment_head(pooled), self.topic_head(pooled)


class ProbsWrapper(nn.Module):
    """Export view: softmax inside the graph, so the engine reads probabilities directly."""

    def __init__(self, net: MultiTaskClassifier) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(input_ids, attention_mask)
        return torch.softmax(s.float(), -1), torch.softmax(t.float(), -1)
