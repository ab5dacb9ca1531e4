"""Reading flows back: load, validate files, semantic diff, graph export, drift checks."""
