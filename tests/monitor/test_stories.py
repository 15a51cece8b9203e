"""Stories: a key's headlines about one event are grouped; unrelated headlines stay apart."""

from __future__ import annotations

from monitor.stories import group_stories


def test_headlines_about_one_event_form_one_story_biggest_first() -> None:
    heads = [
        ("1", "Regulators close Signature Bank, citing systemic risk", -0.9),
        ("2", "Why regulators seized Signature Bank in third-biggest bank failure", -0.95),
        ("3", "Signature Bank closure: regulators seized the crypto-friendly lender", -0.7),
        ("4", "Signature Bank shares slide on crypto exposure", -0.6),
    ]
    stories = group_stories(heads, exclude="Signature Bank")
    assert stories[0].size == 3 and set(stories[0].ids) == {"1", "2", "3"}
    assert stories[0].headline.startswith("Why regulators seized")  # its most negative headline
    assert [s.size for s in stories] == [3, 1]


def test_the_key_name_alone_does_not_join_stories() -> None:
    heads = [("1", "Acme Corp recalls cars", -0.5), ("2", "Acme Corp chief quits", -0.6)]
    assert [s.size for s in group_stories(heads, exclude="Acme Corp")] == [1, 1]
    assert group_stories([]) == []


def test_one_companys_window_links_on_a_single_shared_word() -> None:
    heads = [
        ("1", "Regulators close New York's Signature Bank, citing systemic risk", -0.9),
        ("2", "Why regulators seized Signature Bank in third-biggest bank failure", -0.95),
        ("3", "Rescue of Signature Bank is not a bailout, New York governor says", -0.7),
        ("4", "Signature Bank's collapse spells trouble for crypto industry", -0.6),
    ]
    company = group_stories(heads, exclude="Signature Bank SBNY", min_overlap=0.0, min_shared=1)
    assert company[0].size == 3 and set(company[0].ids) == {"1", "2", "3"}
    assert [s.size for s in group_stories(heads, exclude="Signature Bank SBNY")] == [1, 1, 1, 1]
