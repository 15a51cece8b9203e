"""The seeded store follows the service's bucket semantics (so tests and bench are meaningful)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.seed import DEFAULT_END, generate, rollups


def test_rollups_count_unique_scored_items_once() -> None:
    df, bursts = generate(5000, span=timedelta(days=1))
    roll = rollups(df)
    every = roll[roll["key_type"] == "all"]
    scored = df[df["label_name"].notna()]
    unique = scored[scored["duplicate_of"].isna()]
    assert every[["n_negative", "n_neutral", "n_positive"]].to_numpy().sum() == len(unique)
    assert every["n_duplicates"].sum() == scored["duplicate_of"].notna().sum()
    assert every["score_sum"].sum() == pytest.approx(unique["score"].astype(float).sum())
    # each scored item lands in exactly one topic and one source bucket
    for key_type in ("topic", "source"):
        part = roll[roll["key_type"] == key_type]
        assert part[["n_negative", "n_neutral", "n_positive", "n_duplicates"]].to_numpy().sum() == len(scored)
    assert (roll["bucket_start"] == roll["bucket_start"].dt.floor("min")).all()
    # unscored items (no model for Polish) stay out of every aggregate
    assert df["label_name"].isna().sum() > 0 and set(df.loc[df["label_name"].isna(), "lang"]) == {"pl"}
    assert len(bursts) == 6 and max(b.onset for b in bursts) < DEFAULT_END


def test_copies_point_at_an_earlier_original() -> None:
    df, _ = generate(5000, span=timedelta(days=1))
    copies = df[df["duplicate_of"].notna()]
    by_id = df.set_index("id")
    originals = by_id.loc[copies["duplicate_of"]]
    assert len(copies) > 100
    assert (originals["published_at"].to_numpy() <= copies["published_at"].to_numpy()).all()
    assert (originals["text"].to_numpy() == copies["text"].to_numpy()).all()
    assert originals["duplicate_of"].isna().all()


def test_generation_is_deterministic() -> None:
    a, _ = generate(2000, span=timedelta(days=1), seed=3)
    b, _ = generate(2000, span=timedelta(days=1), seed=3)
    assert a.drop(columns=["tickers"]).equals(b.drop(columns=["tickers"]))
