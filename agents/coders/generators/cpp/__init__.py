"""The CPU C++ generator: the named ops and pointwise chains as ``torch.utils.cpp_extension``
modules (templates ``cpp.<family>``).
"""

from agents.coders.generators.cpp.coder import CppOfflineCoder

__all__ = ["CppOfflineCoder"]
