"""Campaigns: immutable versions of templates per channel (sandboxed Jinja2), previews,
test sends, and rendering for delivery."""
