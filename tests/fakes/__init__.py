"""Test doubles that are real servers, not patched functions (docs/style.md rule 9)."""
