"""`gerhard site`: a static registry browser built from the records (runs table, compare, program view)."""
