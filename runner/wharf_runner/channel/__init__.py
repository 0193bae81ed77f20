"""The gateway-agent channel: the wire format, the envelopes on it, and the gateway's end."""
