"""A class's parameters on their way to its containers.

Part of the contract between the SDK, the gateway and the runner: the gateway hands each
container of a class the encoded parameters of its pool in these environment variables.
"""

from __future__ import annotations

#: The largest encoded parameter set (as in the reference).
MAX_PARAMETER_BYTES = 16 * 1024
#: Environment variables that hand a container its parameters.
PARAMETERS_ENV = "RUNNER_PARAMETERS"
PARAMETERS_FORMAT_ENV = "RUNNER_PARAMETERS_FORMAT"


__all__ = ["MAX_PARAMETER_BYTES", "PARAMETERS_ENV", "PARAMETERS_FORMAT_ENV"]
