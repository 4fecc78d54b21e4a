"""Placeholder replaced by the control endpoint implementation."""
