"""Tools around PPCX, not part of it: the demo, the benchmarks and the simulated market they
drive (`ppcx-tools`). The runtime packages never import this one."""
