"""Inductor export: torch.compile's own kernels as a standalone ``ModelNew`` seed."""
