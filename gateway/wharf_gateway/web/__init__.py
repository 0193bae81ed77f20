"""Web endpoints: routing requests by host or path, and proxying them into containers."""
