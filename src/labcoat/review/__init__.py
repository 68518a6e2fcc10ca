"""Reviews of a paper: the NeurIPS-style form, reviewer personas, aggregation, integrity."""
