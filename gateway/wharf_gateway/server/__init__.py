"""Server plumbing: configuration, the ASGI app and its lifespan, the command line, serving."""
