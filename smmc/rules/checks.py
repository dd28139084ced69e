"""Placeholder replaced below."""

STEP_NAMES = ()
