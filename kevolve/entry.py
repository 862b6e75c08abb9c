"""The ``kevolve`` console script: the command line, or one sentence on a slim install.

The base install (``pip install kevolve``) is the evaluator alone, for GPU and Ray nodes; the
command line needs the full one (``pip install 'kevolve[all]'``). On a slim install the
script says so instead of printing an import traceback.
"""

from __future__ import annotations

import sys

EXIT_USER_ERROR = 2
OWN_PACKAGES = {"kevolve", "agents", "graph", "tools", "vectorstore", "hardware_docs", "evals"}


def main() -> None:
    """Run ``kevolve.cli:app``; exit 2 with one sentence when a full-install package is missing."""
    try:
        from kevolve.cli import app
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if not top or top in OWN_PACKAGES:
            raise
        sys.stderr.write(
            f"error: the kevolve command line needs the full install, and {top} is missing "
            "(this looks like the slim evaluator install); run `pip install 'kevolve[all]'`.\n"
        )
        raise SystemExit(EXIT_USER_ERROR) from None
    app()
