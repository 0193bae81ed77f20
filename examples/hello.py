"""The example app `make run` deploys: call `square` from curl or from Python."""

import wharf as modal

app = modal.App("hello")


@app.function()
def square(x: int) -> int:
    """The square of x."""
    print(f"squaring {x}")
    return x**2


@app.function()
async def greet(name: str = "world") -> str:
    """A greeting, from an async function."""
    return f"Hello, {name}!"


@app.local_entrypoint()
def main(x: int = 7) -> None:
    print(f"square({x}) = {square.remote(x)}")
    print(greet.remote("Wharf"))
