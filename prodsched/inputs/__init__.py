"""The 12 input tables: their spec, reading and writing, normalisation, cross-table checks,
the validation report, and generated inputs (the sample factory, FJSPLIB instances)."""
