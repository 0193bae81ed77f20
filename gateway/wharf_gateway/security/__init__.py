"""Security: tokens and auth, rate limits, secrets at rest, guards against abusive clients."""
