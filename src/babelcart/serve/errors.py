"""Service errors that map to HTTP answers with a clear message (never a stack trace)."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: ``status`` is the HTTP status, ``str(exc)`` the message shown to the client."""

    status = 500


class NotFoundError(ServiceError):
    """Unknown model, product, user... (404)."""

    status = 404


class UnavailableError(ServiceError):
    """A part that is configured but not usable right now: a model that failed to load, no index (503)."""

    status = 503


class NotImplementedFeature(ServiceError):
    """A part missing from this build (a colleague's module or an extra not installed) (501)."""

    status = 501


class TooLargeError(ServiceError):
    """Batch or body over the configured limit (413)."""

    status = 413


class BadRequestError(ServiceError):
    """Input that passed the schema but cannot be processed (422)."""

    status = 422
