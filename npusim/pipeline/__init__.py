"""Several models on one chip: a pipeline spec (spec), the shared-DRAM contention model
(contention), the run over frames (run), its results (results), trace and search."""
