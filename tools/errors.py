"""The small error hierarchy every layer raises.

A ``KevolveError`` message is one sentence a user can act on; the CLI prints it and exits 2
(bad input) without a traceback. Chain the cause with ``raise ... from e``.
"""

from __future__ import annotations


class KevolveError(Exception):
    """Base class: the message says what is wrong and what to do."""


class ProblemError(KevolveError):
    """A problem file or op name cannot be turned into a runnable KernelBench problem."""


class TargetError(KevolveError):
    """A chip name is unknown or its spec file is malformed."""


class CompileError(KevolveError):
    """A candidate did not compile."""


class CorrectnessError(KevolveError):
    """A candidate's output disagrees with the reference."""


class SandboxTimeout(KevolveError):
    """A sandboxed evaluation exceeded its wall-clock limit."""


class KnowledgeBaseError(KevolveError):
    """The knowledge base cannot be read or written."""


class RunStoreError(KevolveError):
    """A run cannot be found, or its files are damaged."""


class ConfigError(KevolveError):
    """A setting has an invalid value."""
