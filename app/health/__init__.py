"""``/healthz``: the state of the database, the broker and the chain."""
