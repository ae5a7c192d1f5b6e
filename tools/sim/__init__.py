"""Simulation pieces for the demo, the benchmarks and the tests: real loopback servers."""
