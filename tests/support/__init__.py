"""Test-only helpers built on the production code: seeders, in-memory twins."""
