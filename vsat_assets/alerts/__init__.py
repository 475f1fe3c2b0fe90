"""Alerts by email: failed runs, overdue hand-offs and returns, annual tables not built (docs/operations.md)."""
