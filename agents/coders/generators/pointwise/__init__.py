"""The pointwise generator: named ops and traced pointwise chains in Triton (and the hybrid
chain around a remap of views, slices and cats)."""
