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


class ConflictError(ServiceError):
    """A request that the configured part refuses by its nature, e.g. a write to a read-only index (409)."""

    status = 409


class NotImplementedFeature(ServiceError):
    """A part that needs an optional extra that is not installed (501); see :func:`missing_extra`."""

    status = 501


def missing_extra(feature: str, extra: str, exc: ImportError) -> NotImplementedFeature:
    """The 501 for ``feature`` whose optional ``extra`` is not installed; it names the ``pip install`` fix."""
    return NotImplementedFeature(f"{feature} needs the [{extra}] extra: pip install 'babelcart[{extra}]' "
                                 f"({exc.name or exc} is not installed)")


class TooLargeError(ServiceError):
    """Batch or body over the configured limit (413)."""

    status = 413


class BadRequestError(ServiceError):
    """Input that passed the schema but cannot be processed (422)."""

    status = 422
