"""Typed errors of the app data API: the app maps them to HTTP answers without parsing messages.

Messages name the field and the problem, never the value (profiles and queries are
health data) nor the user id.
"""

from __future__ import annotations


class DataError(Exception):
    """Base of every error the data API raises on purpose; ``code`` is stable for the app."""

    code = "data_error"


class InvalidInput(DataError):
    """A value has the wrong shape (type, length, format); nothing was written."""

    code = "invalid_input"

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class InvalidProfile(InvalidInput):
    """The profile (or the profile a partial update would produce) is malformed; nothing was written."""

    code = "invalid_profile"


class PayloadTooLarge(InvalidInput):
    """A JSON document is larger than ``MEDIFLUX_API_MAX_JSON_KB``; nothing was written."""

    code = "payload_too_large"

    def __init__(self, field: str, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(field, f"{size} bytes of JSON, more than the {limit} allowed")


class UnknownUser(DataError):
    """No user has this id (the id is on the exception, not in the message)."""

    code = "unknown_user"

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__("unknown user")


class UserExists(DataError):
    """A profile already exists for this user id (use a partial update)."""

    code = "user_exists"

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__("a user with this id already exists")


class UnknownPathway(DataError):
    """No care pathway with this id belongs to this user."""

    code = "unknown_pathway"

    def __init__(self, pathway_id: int) -> None:
        self.pathway_id = pathway_id
        super().__init__(f"unknown care pathway {pathway_id}")


class UnknownStep(InvalidInput):
    """The decision names a step the pathway does not have."""

    code = "unknown_step"

    def __init__(self, step: str) -> None:
        super().__init__("step", "the pathway has no such step")
        self.step = step


class FileTooLarge(PayloadTooLarge):
    """A submitted file is larger than ``MEDIFLUX_MAX_FILE_MB``; nothing was written."""

    code = "file_too_large"

    def __init__(self, size: int, limit: int) -> None:
        InvalidInput.__init__(self, "data", f"{size} bytes, more than the {limit} allowed")
        self.size = size
        self.limit = limit


class UnsupportedType(InvalidInput):
    """A submitted file is of a type ingestion does not take (from its first bytes); nothing was written."""

    code = "unsupported_type"

    def __init__(self, found: str) -> None:
        super().__init__("data", f"unsupported file type ({found})")
        self.found = found


class UnknownSubmission(DataError):
    """No submission with this id belongs to this user."""

    code = "unknown_submission"

    def __init__(self) -> None:
        super().__init__("unknown submission")


class UnknownDocument(DataError):
    """No document with this id belongs to this user (another user's document is unknown too)."""

    code = "unknown_document"

    def __init__(self, document_id: object) -> None:
        self.document_id = document_id
        super().__init__("unknown document")
