"""Connecting to Label Studio and turning its failures into messages a user can act on.

The API key comes from ``LABEL_STUDIO_API_KEY`` (a personal access token or a legacy token) and is
never printed, logged or written anywhere by this package.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

API_KEY_ENV = "LABEL_STUDIO_API_KEY"


class AnnotationError(RuntimeError):
    """A Label Studio problem the user can fix (server down, bad token, missing project, bad media path)."""


def api_key_from_env() -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise AnnotationError(f"set {API_KEY_ENV} to a Label Studio personal access token or legacy token "
                              "(Account & Settings > Personal Access Token)")
    return key


@contextlib.contextmanager
def label_studio_errors(url: str) -> Iterator[None]:
    """Translate connection and HTTP errors of the SDK into AnnotationError naming the server."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except httpx.TransportError as error:
        raise AnnotationError(f"cannot reach Label Studio at {url} ({type(error).__name__}: {error}); "
                              "is the server running and the URL right?") from None
    except ApiError as error:
        if error.status_code in (401, 403):
            raise AnnotationError(f"Label Studio at {url} rejected the API key in {API_KEY_ENV} "
                                  f"(HTTP {error.status_code}: {_detail(error.body)}); it may be wrong or expired, "
                                  "or legacy tokens may be disabled on this server") from None
        raise AnnotationError(f"Label Studio at {url} answered HTTP {error.status_code}: {_detail(error.body)}") from None


def connect(url: str, api_key: str):
    """A LabelStudio client whose key has been checked with one cheap authenticated call."""
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=url.rstrip("/"), api_key=api_key)
    with label_studio_errors(url):
        client.projects.list(page_size=1)
    return client


def _detail(body) -> str:
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("validation_errors") or body)
    return str(body)[:300]
