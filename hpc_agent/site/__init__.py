"""The instance on this HPC site: set-up, schedule, layout, doctor and status."""
