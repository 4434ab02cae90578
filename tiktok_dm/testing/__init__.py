"""Factories for tests of tiktok-dm and of code built on it (shipped in the package, as lhotse does)."""
