"""The registry on disk: state files, run bundles, artifacts, heavy files, checks, read queries."""
