"""The call lifecycle: accepting a call, waiting for it, cancelling it, recovering it."""
