#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postflow.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from postflow.lib.bad_setting import load_or_stop

    # Django would swallow a settings error here and show a traceback later: one line and exit 2 instead.
    load_or_stop(lambda: settings.INSTALLED_APPS)
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
