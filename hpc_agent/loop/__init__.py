"""The reconcile loop cron runs: the tick, its lock, state store and event log."""
