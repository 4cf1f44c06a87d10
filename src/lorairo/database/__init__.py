"""Per-project SQLite store: ORM schema, engine and sessions, migrations, repositories."""
