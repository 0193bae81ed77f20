"""The call outcome each way a call can end stands for: a run's output or failure, or a result
that names a blob its workspace never stored."""

from __future__ import annotations

from wharf.error_codes import ErrorCode
from wharf_runner import ErrorInfo, Output, OutputStatus

from wharf_gateway.models import CallOutcome, CallStatus
from wharf_gateway.scheduling.tasks import Failure


def outcome_of(call_id: str, result: Output | Failure) -> CallOutcome:
    """The call outcome a finished run stands for."""
    if isinstance(result, Failure):
        return CallOutcome(
            call_id, result.status, error={"code": result.code, "message": result.message}
        )
    if result.status is OutputStatus.SUCCESS:
        return CallOutcome(
            call_id,
            CallStatus.SUCCESS,
            result.pickled,
            result.json,
            result.json_error,
            pickled_blob=result.pickled_blob,
            json_blob=result.json_blob,
        )
    error = result.error or ErrorInfo("Exception", "the function failed", "")
    return CallOutcome(
        call_id,
        CallStatus.FAILURE,
        pickled=result.pickled,
        error={
            "code": ErrorCode.FUNCTION_FAILED,
            "message": f"{error.type}: {error.message}",
            "type": error.type,
            "traceback": error.traceback,
        },
    )


def unowned_blob(call_id: str, sha256: str) -> CallOutcome:
    """The failure of a call whose result names a blob its workspace never stored (a container
    may only hand back what it sent itself)."""
    message = f"the result names blob {sha256}, which this workspace does not have"
    error = {"code": ErrorCode.FUNCTION_FAILED, "message": message, "type": "LookupError"}
    return CallOutcome(call_id, CallStatus.FAILURE, error=error)
