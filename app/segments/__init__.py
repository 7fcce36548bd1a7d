"""Segments: a JSON rule language over the audience, compiled to one SQL query, versioned
and frozen into snapshots whose Merkle root the approval log can anchor."""
