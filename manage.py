#!/usr/bin/env python
"""Django's command-line utility for FairQueue."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fairqueue_site.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a setting missing or wrong: say which, no traceback
        sys.exit(f"error: {exc}")
