"""Ledgerline's chain side: pure Python, no Flask."""

__version__ = "0.1.0"
