"""Command handlers: each takes a command, checks it, and saves every aggregate it touched in
one atomic save. Bad input raises a `DomainError` before anything is recorded."""
