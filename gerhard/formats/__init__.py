"""YAML, JSON and schema parsing, bounded and strict: the formats of what a run and the registry write."""
