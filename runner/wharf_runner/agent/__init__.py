"""The agent: the process inside each container that loads the app and runs its inputs."""
