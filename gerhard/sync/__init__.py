"""Run folders moved between outputs/ and a remote root (heavy files out of git)."""
