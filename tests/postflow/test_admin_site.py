"""The admin index: the producers' tables first, in the order they use them; django-q's and auth's after."""

from django.test import Client


def test_the_admin_index_lists_the_producers_tables_first(admin_client: Client):
    html = admin_client.get("/admin/").content.decode()
    first = ["shots/shot", "ingest/render", "frameio/upload", "frameio/reviewnote", "alerts/alert"]
    positions = [html.index(f'href="/admin/{table}/"') for table in first]
    assert positions == sorted(positions)
    for rest in ("django_q/schedule", "auth/user", "shots/scene", "ingest/watcherheartbeat", "alerts/metric"):
        assert html.index(f'href="/admin/{rest}/"') > positions[0]
    assert html.index('href="/admin/django_q/schedule/"') > positions[-1]
    assert html.index('href="/admin/auth/user/"') > positions[-1]


def test_an_app_page_lists_its_leading_table_first(admin_client: Client):
    html = admin_client.get("/admin/frameio/").content.decode()
    assert html.index('href="/admin/frameio/upload/"') < html.index('href="/admin/frameio/reviewnote/"')
    assert html.index('href="/admin/frameio/reviewnote/"') < html.index('href="/admin/frameio/frameioconnection/"')
