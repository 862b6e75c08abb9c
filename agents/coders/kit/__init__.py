"""The kit every kernel generator is built from.

One ATen tracer and fx readers, one pointwise chain IR with one formula table for Triton and
C++, one Jinja environment factory, chip facts, parameter spaces, the per-problem cache and
the typed template-generator base. Generators (``agents.coders.generators.<family>``) import
only this package, ``agents.coders.base`` and ``tools``.
"""
