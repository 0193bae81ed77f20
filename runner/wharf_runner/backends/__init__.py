"""Runner backends: what starts and stops containers (local processes, Docker hosts)."""
