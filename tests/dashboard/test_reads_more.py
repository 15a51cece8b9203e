"""Reads added for the analyst's first screen: items by language, sharpest moves that always rank."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select

from store import reads as q
from store.reads.moves import MoveWindow
from store.schema import items


@pytest.fixture(scope="module")
def engine(seeded_url: str):
    eng = create_engine(seeded_url)
    yield eng
    eng.dispose()


@pytest.mark.parametrize("bin_s", [60, 3600])
def test_language_series_counts_every_item_once(engine, bin_s: int) -> None:
    first, last = q.data_span(engine)
    langs = q.language_series(engine, first, last, bin_s)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).where(items.c.published_at < last)).scalar()
        unscored = conn.execute(select(func.count()).where(items.c.label.is_(None))).scalar()
        pl = conn.execute(select(func.count()).where(items.c.lang == "pl")).scalar()
    assert langs["n"].sum() == total and langs["n_unscored"].sum() == unscored
    assert all(int(t.timestamp()) % bin_s == 0 for t in langs["t"])  # steps aligned
    tot = q.language_totals(langs).set_index("lang")
    assert tot.loc["pl", "n"] == pl and tot.loc["pl", "n_unscored"] == pl  # Polish: no model in the seed
    assert not langs.loc[langs["lang"] == "pl", "scored"].any() and langs.loc[langs["lang"] == "en", "scored"].all()


def test_headlines_filter_by_language(engine) -> None:
    first, last = q.data_span(engine)
    pl = q.headlines(engine, first, last, langs=["pl"], limit=50)
    assert len(pl) == 50 and set(pl["lang"]) == {"pl"} and set(pl["label"]) == {q.UNSCORED}
    en = q.headlines(engine, first, last, langs=["en"], labels=["negative"], limit=50)
    assert len(en) == 50 and set(en["lang"]) == {"en"} and set(en["label"]) == {"negative"}
    assert q.headlines(engine, first, last, langs=[q.UNKNOWN_LANG]).empty  # every seeded item has a language


def test_sharpest_moves_take_the_default_window_when_it_ranks(engine) -> None:
    _, last = q.data_span(engine)
    lb, rung = q.sharpest_moves(engine, last)
    assert rung == q.LADDER[0] and not lb.empty
    assert lb.equals(q.leaderboard(engine, last))


def test_sharpest_moves_widen_until_something_ranks(engine) -> None:
    _, last = q.data_span(engine)
    impossible = MoveWindow("ticker", timedelta(hours=1), timedelta(hours=24), 10**9, 10**9)
    lb, rung = q.sharpest_moves(engine, last, ladder=(impossible, *q.LADDER[1:]))
    assert rung == q.LADDER[1] and not lb.empty
    assert (lb["n_recent"] >= rung.min_recent).all()
    assert "last 6 h vs the 24 h before" in rung.describe()


def test_sharpest_moves_on_a_store_with_too_little_volume(tmp_path) -> None:
    from tests.support.seed import seed_store

    eng = create_engine(f"sqlite:///{tmp_path / 'small.db'}")
    seed_store(eng, n_items=400, span=timedelta(days=2))
    _, last = q.data_span(eng)
    assert q.leaderboard(eng, last).empty  # the default finds nothing ...
    lb, rung = q.sharpest_moves(eng, last)
    assert not lb.empty and rung != q.LADDER[0]  # ... the ladder still ranks something
    eng.dispose()


def test_moves_on_an_empty_window(engine) -> None:
    lb, rung = q.sharpest_moves(engine, datetime(2000, 1, 1, tzinfo=UTC))
    assert lb.empty and rung == q.LADDER[-1]
