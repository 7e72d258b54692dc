"""huzhu's deterministic simulation harness: N real replicas, state machines and mempools in one
process, over a simulated network and clock, with faults and Byzantine validators, all
driven by one seed (DESIGN.md "Simulation harness").

Entry points: `huzhu sim` / `python -m sim` (sim.cli), `sim.world.run_seed(config, seed)`
for one run, `sim.run.sweep` for many.
"""
