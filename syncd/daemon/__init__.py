"""The daemon: one cycle, the scheduler, leadership among replicas, health and metrics."""
