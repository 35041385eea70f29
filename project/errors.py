"""Error bodies shared by every API endpoint, so the OpenAPI spec tells the truth."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field


class HTTPErrorWithFields(HTTPException):
    """An error whose JSON body carries fields beside `detail` (e.g. the id of the job in the way)."""

    def __init__(self, status_code: int, detail: str, **fields: Any) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.fields = fields


class ErrorOut(BaseModel):
    detail: str = Field(examples=["Review 42 does not exist"])


class FieldError(BaseModel):
    field: str = Field(examples=["body.text"])
    message: str = Field(examples=["String should have at least 1 character"])


class ValidationErrorOut(BaseModel):
    detail: str = Field(examples=["body.text: String should have at least 1 character"])
    errors: list[FieldError]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request",
        401: "Missing or invalid token (`Authorization: Token <key>`)",
        403: "The token's user lacks the permission this endpoint needs",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Request body too large (`API_MAX_BODY_BYTES`)",
        422: "Invalid input; `errors` names each field",
        429: "Too many requests with this token; `Retry-After` says when to retry",
        503: "A dependency is unavailable",
    }
    responses: dict[int | str, dict[str, Any]] = {
        status: {
            "model": ValidationErrorOut if status == 422 else ErrorOut,
            "description": descriptions[status],
        }
        for status in statuses
    }
    if 429 in responses:
        responses[429]["headers"] = {
            "Retry-After": {"description": "Seconds until the rate limit window ends", "schema": {"type": "integer"}}
        }
    return responses
