"""Apps: deploys (with their image builds), lookups, stops, and their live logs."""
