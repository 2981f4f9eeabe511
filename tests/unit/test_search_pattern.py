"""Search words are matched literally: LIKE's wildcards typed by a user are not wildcards."""

from __future__ import annotations

from aggregator.services.portfolio import _like_pattern


def test_wildcards_in_a_search_word_are_literal() -> None:
    assert _like_pattern("versa") == "%versa%"
    assert _like_pattern("50%") == "%50/%%"
    assert _like_pattern("a_b") == "%a/_b%"
    assert _like_pattern("x/y") == "%x//y%"
