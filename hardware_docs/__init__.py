"""Shipped chip knowledge: one folder per chip with ``spec.yaml`` facts and a ``guide.md``.

Each chip folder carries an empty ``__init__.py`` so that setuptools treats it as a package and
ships its ``*.yaml`` and ``*.md`` files (the project's package-data globs match files directly
inside a package only). ``DOCS_DIR`` is the same folder in a source checkout and in an installed
package.
"""

from __future__ import annotations

from pathlib import Path

DOCS_DIR: Path = Path(__file__).resolve().parent
"""The folder holding ``<chip>/spec.yaml`` and ``<chip>/guide.md`` for every shipped chip."""

__all__ = ["DOCS_DIR"]
