"""Frozen-feature evaluation as registered tasks (probes, baselines, world-model readouts), surprise, planning
reports and the run report."""
