import os

from django.core.wsgi import get_wsgi_application

from postflow.lib.bad_setting import load_or_stop, refuse_failed_checks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postflow.settings")
# As postflow/asgi.py: a bad setting or a failed system check stops the process in one line, exit status 2.
application = load_or_stop(get_wsgi_application)
refuse_failed_checks()
