"""Every place rolesession relies on botocore beyond its documented API.

Kept in one module so that a botocore change breaks one file, and
``tests/test_botocore_compat.py`` notices.

What is done here and why:

* **A shared data loader.** A fresh botocore session loads the service
  models and endpoint rules again (~8 MB and >100 ms for the first client).
  Every session rolesession creates registers one process-wide loader via
  the public ``register_component``. boto3 appends its own data path to the
  loader's ``search_paths`` on every ``boto3.Session()``; the shared loader
  keeps that list free of repeats so it does not grow per session.
* **Cheap session construction.** ``botocore.session.Session()`` registers
  ~120 built-in handlers, inspecting each one's signature. We do that once
  in a template and give every new session a copy of the template's event
  emitter (``event_hooks=`` + ``include_builtin_handlers=False``, both
  public constructor parameters; the copy uses the emitter's ``__copy__``).
"""

from __future__ import annotations

import copy
import os
import threading
from typing import Any

import botocore.handlers
import botocore.loaders
import botocore.session


class _UniqueList(list):  # type: ignore[type-arg]
    """A search-path list that ignores an append of a path it already holds."""

    def append(self, item: Any) -> None:
        if item not in self:
            super().append(item)


class _SharedLoader(botocore.loaders.Loader):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._search_paths: list[str] = _UniqueList(self._search_paths)


_lock = threading.Lock()
_loader: _SharedLoader | None = None
_template: botocore.session.Session | None = None
_template_handlers = -1


def shared_loader() -> botocore.loaders.Loader:
    """The process-wide data loader every rolesession-made session uses."""
    global _loader
    if _loader is None:
        with _lock:
            if _loader is None:
                data_path = botocore.session.Session(
                    include_builtin_handlers=False
                ).get_config_variable("data_path")
                extra = data_path.split(":") if data_path else []
                _loader = _SharedLoader(extra_search_paths=extra)
    return _loader


def _template_session() -> botocore.session.Session:
    global _template, _template_handlers
    # Tools such as moto add to botocore's built-in handlers at import time;
    # a template made before that would miss them.
    count = len(botocore.handlers.BUILTIN_HANDLERS)
    if _template is None or _template_handlers != count:
        with _lock:
            if _template is None or _template_handlers != count:
                _template = botocore.session.Session()
                _template_handlers = count
    return _template


def new_session() -> botocore.session.Session:
    """A botocore session with the built-in handlers and the shared loader.

    Costs a copy of an event emitter rather than ~120 handler registrations.
    """
    template = _template_session()
    emitter = copy.copy(template._original_handler)  # type: ignore[attr-defined]
    session = botocore.session.Session(event_hooks=emitter, include_builtin_handlers=False)
    session.register_component("data_loader", shared_loader())
    return session


def reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset_after_fork)
