"""Maintainer tools (build the notebooks, run lessons as benchmarks, write RESULTS.md); importable for tests."""
