"""The CPU C++ generator: the named ops and pointwise chains as ``torch.utils.cpp_extension``
modules."""
