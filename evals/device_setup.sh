#!/usr/bin/env bash
# Prepare a bare GPU machine (Python 3.12 with torch/triton/cupy preinstalled) to run kevolve:
# install the wheels carried in .whl/ (pydantic, pydantic-settings, langgraph, langchain-core and
# their dependencies, downloaded for cp312) into the machine's own python, then kevolve itself
# editable, so sandboxed evaluation children import the same packages.
#   bash evals/device_setup.sh            (from the repository root)
set -euo pipefail
python3 -m pip install -q --no-index --find-links .whl pydantic pydantic-settings langgraph \
    langgraph-checkpoint-sqlite langchain-core typer rich jinja2 pyyaml huey pytest-xdist pytest-timeout
python3 -m pip install -q --no-deps --no-build-isolation -e .
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
