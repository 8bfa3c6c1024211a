"""Benchmarks. A package so that `bench.character` is this folder even where aioesphomeapi
(which ships a stray top-level `bench` package of its own) is installed."""
