"""Buckets: the monoid laws, event-time assignment, lateness, and the sliding-window index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.buckets import (
    ALL,
    EMPTY,
    Counts,
    Watermark,
    bucket_start,
    contributions,
    keys_of,
    merge,
)
from tests.monitor.synthetic import T0, item
from tests.support.buckets import BucketTable
from tests.support.windows import rolling, sentiment_index, summarize

counts = st.builds(
    Counts,
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(-1000, 1000).map(lambda v: v / 8),  # exact binary fractions: sums are exact
)


@given(counts, counts, counts)
def test_merge_is_associative(a: Counts, b: Counts, c: Counts) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(counts, counts)
def test_merge_is_commutative_with_identity(a: Counts, b: Counts) -> None:
    assert merge(a, b) == merge(b, a)
    assert merge(a, EMPTY) == a


def test_bucket_start_floors_event_time_in_utc() -> None:
    ts = datetime(2023, 3, 10, 14, 7, 59, 999_000, tzinfo=UTC)
    assert bucket_start(ts, 60) == datetime(2023, 3, 10, 14, 7, tzinfo=UTC)
    assert bucket_start(ts, 300) == datetime(2023, 3, 10, 14, 5, tzinfo=UTC)
    naive = datetime(2023, 3, 10, 14, 7, 30)  # noqa: DTZ001 - SQLite hands datetimes back naive: UTC
    assert bucket_start(naive, 60) == datetime(2023, 3, 10, 14, 7, tzinfo=UTC)
    other_tz = datetime.fromisoformat("2023-03-10T15:07:30+01:00")
    assert bucket_start(other_tz, 60) == datetime(2023, 3, 10, 14, 7, tzinfo=UTC)


def test_keys_and_contributions_count_unique_scored_items_only() -> None:
    a = item(1, T0, "negative", "Banks", "wire-a", ["JPM", "JPM", "BAC"])
    copy = item(2, T0 + timedelta(seconds=5), "negative", "Banks", "wire-b", ["JPM"], dup_of="s1")
    unscored = item(3, T0, "neutral", "Banks", "wire-a", [])
    unscored.label = None
    assert keys_of(a) == [ALL, ("topic", "Banks"), ("ticker", "JPM"), ("ticker", "BAC"), ("source", "wire-a")]
    rows = contributions([a, copy, unscored], 60)
    assert rows[("all", "*", T0)] == Counts(n_negative=1, n_duplicates=1, score_sum=-0.8)
    assert rows[("ticker", "BAC", T0)] == Counts(n_negative=1, score_sum=-0.8)
    assert rows[("source", "wire-b", T0)] == Counts(n_duplicates=1)
    assert rows[("ticker", "JPM", T0)].total == 1


def test_items_behind_the_watermark_by_more_than_the_lateness_are_late() -> None:
    wm = Watermark(allowed_lateness_s=600)
    assert not wm.is_late(T0)  # nothing seen yet
    wm.advance(T0 + timedelta(hours=1))
    wm.advance(T0)  # never goes back
    assert wm.value == T0 + timedelta(hours=1)
    assert not wm.is_late(T0 + timedelta(minutes=50))
    assert wm.is_late(T0 + timedelta(minutes=49, seconds=59))
    table = BucketTable(60, allowed_lateness_s=600)
    table.apply([item(1, T0 + timedelta(hours=1), "neutral", "Macro", "w", [])])
    late = table.apply(
        [item(2, T0, "negative", "Macro", "w", []), item(3, T0 + timedelta(minutes=55), "negative", "Macro", "w", [])]
    )
    assert [i.id for i in late] == ["s2"] and table.late == 1
    assert ("all", "*", T0) not in table.rows
    assert table.rows[("all", "*", T0 + timedelta(minutes=55))].n_negative == 1


_LABELS = st.sampled_from(["negative", "neutral", "positive"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3599), _LABELS, st.sampled_from(["Banks", "Tech"])), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
def test_arrival_order_within_lateness_does_not_change_buckets(events, rnd, batch) -> None:
    items = [item(i, T0 + timedelta(seconds=s), lab, top, "w", []) for i, (s, lab, top) in enumerate(events)]
    shuffled = items[:]
    rnd.shuffle(shuffled)
    in_order = BucketTable(60, allowed_lateness_s=3600)
    in_order.apply(sorted(items, key=lambda it: it.published_at))
    out_of_order = BucketTable(60, allowed_lateness_s=3600)
    for i in range(0, len(shuffled), batch):
        assert out_of_order.apply(shuffled[i : i + batch]) == []
    assert out_of_order.rows.keys() == in_order.rows.keys()
    for bid, c in in_order.rows.items():
        o = out_of_order.rows[bid]
        assert (o.n_negative, o.n_neutral, o.n_positive, o.n_duplicates) == (
            c.n_negative,
            c.n_neutral,
            c.n_positive,
            c.n_duplicates,
        )
        assert abs(o.score_sum - c.score_sum) < 1e-9  # float sums differ only by rounding


def test_sentiment_index_over_sliding_windows() -> None:
    series = [
        (T0, Counts(n_negative=2, n_neutral=2, score_sum=-1.6)),
        (T0 + timedelta(minutes=20), Counts(n_positive=1, score_sum=0.9)),
        (T0 + timedelta(minutes=59), Counts(n_negative=1, score_sum=-0.5)),
    ]
    end = T0 + timedelta(minutes=60)
    idx = sentiment_index(series, end, (900, 3600))
    assert idx[900].n == 1 and idx[900].negative_share == 1.0 and idx[900].index == -0.5
    assert idx[3600].n == 6 and abs(idx[3600].index - (-1.2 / 6)) < 1e-12
    assert abs(idx[3600].negative_share - 0.5) < 1e-12
    assert summarize([], end, 900).index == 0.0
    roll = rolling(series, width_s=1800, step_s=600)
    assert [w.n for w in roll] == [4, 4, 5, 1, 1, 1]
