"""freya.pipecat's tests need pipecat-ai, which the bindings' own venv does not have.

Without pipecat these tests are not collected, so ``python -m pytest freya-py/tests`` in
that venv passes without them. With ``FREYA_REQUIRE_PIPECAT=1`` (CI's pipecat run) they are
always collected: a missing pipecat then fails the run (``import freya.pipecat`` raises an
``ImportError`` naming the package) instead of skipping it quietly.

Only a real pipecat counts: this folder is itself named ``pipecat``, so once
``freya-py/tests`` is on ``sys.path`` a bare ``import pipecat`` can succeed as a namespace
package of this folder; ``pipecat.frames.frames`` cannot.
"""

from __future__ import annotations

import importlib.util
import os


def _have_pipecat() -> bool:
    try:
        return importlib.util.find_spec("pipecat.frames.frames") is not None
    except ImportError:
        return False


REQUIRE_PIPECAT = os.environ.get("FREYA_REQUIRE_PIPECAT", "") not in ("", "0")

collect_ignore = [] if REQUIRE_PIPECAT or _have_pipecat() else ["test_freya_transport.py"]
