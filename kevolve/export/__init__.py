"""Exports of a run's best kernel: a KernelBench ``ModelNew`` package, or a ``torch.library``
custom op package a user drops into a model (``kevolve export``)."""
