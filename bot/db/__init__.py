"""Persistence: the tables, the engine for Postgres or SQLite, and named queries."""
