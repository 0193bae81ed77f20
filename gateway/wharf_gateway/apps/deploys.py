"""Deploys that must build images first: they run in the background while the deployer follows
the build log (`GET /v1/deploys/{id}`). A failed build fails the deploy, and the app's previous
version keeps serving: nothing is committed before every image is built.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wharf_runner import ContainerBackend, ImageBuildFailed, ImageRecipe

from wharf_gateway.errors import BuildFailed, GatewayError, NotFound, Superseded
from wharf_gateway.ids import new_id
from wharf_gateway.models import AppRecord, FunctionRecord

logger = logging.getLogger(__name__)

#: Lines of the build log a failed deploy's error repeats.
LOG_TAIL_LINES = 20
#: Build log kept per deploy (its last lines), and the longest line.
MAX_LOG_LINES = 10_000
MAX_LINE_CHARS = 4096
#: How long a finished deploy can still be looked at.
KEEP_FINISHED_S = 600.0

Commit = Callable[[], Awaitable[tuple[AppRecord, list[FunctionRecord]]]]


@dataclass(slots=True, eq=False)
class DeployJob:
    deploy_id: str
    workspace_id: str
    #: The last MAX_LOG_LINES lines of the build log; `dropped` lines came before them.
    log: list[str] = field(default_factory=list)
    dropped: int = 0
    #: `building`, `deployed` or `failed`.
    status: str = "building"
    result: tuple[AppRecord, list[FunctionRecord]] | None = None
    error: GatewayError | None = None
    finished_at: float | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def lines(self) -> int:
        """Lines logged so far."""
        return self.dropped + len(self.log)

    def lines_after(self, seen: int) -> list[str]:
        return self.log[max(0, seen - self.dropped) :]

    def append(self, line: str) -> None:
        self.log.append(line[:MAX_LINE_CHARS])
        if len(self.log) > MAX_LOG_LINES:  # a build that logs without end keeps its tail
            del self.log[: len(self.log) - MAX_LOG_LINES]
            self.dropped = self.lines - MAX_LOG_LINES
        self.changed.set()

    async def wait(self, seen: int, timeout_s: float) -> None:
        """Until there is more log than `seen` lines, the job ends, or `timeout_s` passes."""
        while self.status == "building" and self.lines <= seen:
            self.changed.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self.changed.wait()
            except TimeoutError:
                return


class Deploys:
    """The deploys in progress (and recently finished), by id, in this gateway's memory."""

    def __init__(self, backend: Callable[[], ContainerBackend]) -> None:
        self._backend = backend
        self._jobs: dict[str, DeployJob] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: The newest deploy of each app (by workspace and name), so an older one that was
        #: building all along does not replace it when it is done.
        self._newest: dict[tuple[str, str], int] = {}
        self._counter = 0

    def claim(self, workspace_id: str, app: str) -> Callable[[], bool]:
        """Note a deploy of `app`; returns whether it is still the newest one."""
        self._counter += 1
        key, mine = (workspace_id, app), self._counter
        self._newest[key] = mine
        return lambda: self._newest.get(key) == mine

    async def missing(self, recipes: dict[str, ImageRecipe]) -> list[ImageRecipe]:
        """The recipes whose images are not built yet (none where the backend uses no images)."""
        backend = self._backend()
        if not backend.builds_images:
            return []
        distinct = {recipe.tag: recipe for recipe in recipes.values()}
        return [recipe for tag, recipe in distinct.items() if not await backend.has_image(tag)]

    def start(
        self,
        workspace_id: str,
        recipes: list[ImageRecipe],
        commit: Commit,
        newest: Callable[[], bool],
    ) -> DeployJob:
        """Build `recipes`, then `commit` the deploy (if it is still the `newest` of its app),
        in the background."""
        self._forget_old()
        job = DeployJob(new_id("dp"), workspace_id)
        self._jobs[job.deploy_id] = job
        task = asyncio.create_task(self._run(job, recipes, commit, newest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def job(self, workspace_id: str, deploy_id: str) -> DeployJob:
        """A deploy of the workspace.

        Raises:
            NotFound: no such deploy in this workspace (or it finished long ago).
        """
        job = self._jobs.get(deploy_id)
        if job is None or job.workspace_id != workspace_id:
            raise NotFound(f"no deploy with id {deploy_id!r}")
        return job

    async def _run(
        self,
        job: DeployJob,
        recipes: list[ImageRecipe],
        commit: Commit,
        newest: Callable[[], bool],
    ) -> None:
        try:
            for recipe in recipes:
                job.append(f"Building image {recipe.tag}")
                await self._backend().build_image(recipe, job.append)
                job.append(f"Built image {recipe.tag}")
            if not newest():
                raise Superseded("a newer deploy of this app came first; this one is dropped")
            job.result = await commit()
            job.status = "deployed"
        except ImageBuildFailed as exc:
            tail = "\n".join(job.log[-LOG_TAIL_LINES:])
            job.error = BuildFailed(f"the image build failed: {exc}\n{tail}")
            job.status = "failed"
        except GatewayError as exc:
            job.error = exc
            job.status = "failed"
        except Exception:
            logger.exception("deploy %s failed", job.deploy_id)
            job.error = GatewayError("the deploy failed inside the gateway")
            job.status = "failed"
        finally:
            job.finished_at = time.monotonic()
            job.changed.set()

    def _forget_old(self) -> None:
        now = time.monotonic()
        for deploy_id, job in list(self._jobs.items()):
            if job.finished_at is not None and now - job.finished_at > KEEP_FINISHED_S:
                del self._jobs[deploy_id]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
