from __future__ import annotations

import pytest

from model import load_classifier


@pytest.fixture(scope="session")
def int8_cache(tmp_path_factory):
    """One fresh int8 cache for the session: the first load exercises derivation from fp16."""
    return tmp_path_factory.mktemp("int8cache")


@pytest.fixture(scope="session")
def shipped(int8_cache):
    """The shipped model on CPU (int8)."""
    return load_classifier(provider="cpu", cache_dir=int8_cache, threads=2)
