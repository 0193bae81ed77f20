"""Scheduling: pools of containers per function, placement, autoscaling, GPUs."""
