"""Where runs are born: the run a notebook records, finishing it, seeding, provenance, converting other tools' logs."""
