"""The event feed while other processes publish a burst: 500 events from two processes, followed
through GET /api/v1/events with long polls; none missing, none twice, in order."""

import subprocess
import sys
import time

import pytest
from django.db import connection

from postflow.lib.dburl import database_url
from tests.processes import ROOT, child_env

pytestmark = pytest.mark.django_db(transaction=True)

PER_PROCESS = 250
PUBLISHER = """
import django
django.setup()
from postflow import realtime
for i in range({n}):
    realtime.publish("burst", {{"process": {process}, "i": i}})
"""


def test_a_burst_from_other_processes_is_followed_whole_and_in_order(call, token, tmp_path):
    env = child_env(tmp_path, DATABASE_URL=database_url(connection.settings_dict))
    env["DJANGO_SETTINGS_MODULE"] = "postflow.settings"
    after = call("GET", "/api/v1/events", token=token).json()["last_id"]
    publishers = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER.format(n=PER_PROCESS, process=process)], env=env, cwd=ROOT)
        for process in (1, 2)
    ]
    received, deadline = [], time.monotonic() + 120
    try:
        while len(received) < 2 * PER_PROCESS and time.monotonic() < deadline:
            page = call("GET", f"/api/v1/events?after={after}&wait=5&limit=100", token=token).json()
            received += page["events"]
            after = page["last_id"]
    finally:
        for publisher in publishers:
            assert publisher.wait(timeout=60) == 0
    # Anything still on its way after the last page would be a duplicate or a late one: read once more.
    received += call("GET", f"/api/v1/events?after={after}", token=token).json()["events"]

    ids = [event["id"] for event in received]
    assert len(received) == 2 * PER_PROCESS
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # strictly increasing: none twice
    for process in (1, 2):
        order = [e["payload"]["i"] for e in received if e["payload"]["process"] == process]
        assert order == list(range(PER_PROCESS))  # none missing, each process's events in its order
