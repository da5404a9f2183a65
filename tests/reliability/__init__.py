"""Reliability suite: a real moto server behind a fault-injecting proxy (see conftest.py)."""
