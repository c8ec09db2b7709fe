"""Importing this module leaves a marker file: the worker must never import a
module named by data in Redis, so tests assert the marker never appears."""

import os
from pathlib import Path

marker = os.environ.get("FQ_EVIL_MARKER")
if marker:
    Path(marker).write_text("imported")


def boom():
    return "should never run"
