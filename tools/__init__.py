"""Worker-side toolbox: records, problems, hardware registry, evaluator, compilers.

Everything under ``tools/`` must import with only torch, triton, numpy, pydantic, pyyaml
(and cupy for CUDA C++) installed: a GPU worker has nothing else.
"""
