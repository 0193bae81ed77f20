"""The Wharf gateway: the single front door (auth, calls, results, scheduling, proxying)."""
