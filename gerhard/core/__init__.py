"""The program, gates, phases, the derive fold, reports and run comparison. Pure: data in, data out."""
