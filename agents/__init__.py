"""Agents: planner, per-language coders, profiler-interpreter, knowledge curator."""
