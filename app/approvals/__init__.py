"""Maker-checker approvals: versioned policies, submissions and signed decisions logged to
the approval log, approvers' signing keys, and the dispatch gate."""
