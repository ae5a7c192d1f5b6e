"""The event store: the only package that touches the databases (SQLite, PostgreSQL) and the
eventsourcing library's persistence — the application, the writer, the recorders with the
audit chain, the encoding of events into stored rows."""
