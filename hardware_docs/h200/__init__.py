"""Chip data folder (a package only so that its spec.yaml and guide.md are installed)."""
