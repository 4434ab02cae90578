"""Synthetic media, a loopback HTTP server and scripted stages: what the tests, the benchmarks and ``tiktok-dm demo``
make their inputs with (shipped in the package, as lhotse ships its test factories)."""
