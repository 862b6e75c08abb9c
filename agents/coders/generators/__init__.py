"""Kernel generators, one package per op family; each imports only the kit and tools."""
