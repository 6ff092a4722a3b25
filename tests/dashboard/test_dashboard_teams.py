"""The dashboard by team: rows, tiles, chart, choices and CSV scoped to the viewer's teams, the team
filter, totals without a COUNT over the table, and keyset pages."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client

from setup_portal.dashboard import paging
from setup_portal.dashboard import views as dashboard_views
from setup_portal.instances.models import Instance
from setup_portal.teams.models import Team
from setup_portal.teams.roles import set_portal_admin, set_role
from tests.instances.factories import make_instance

URL = "/instances/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _names(response) -> set[str]:
    return {inst.name for inst in response.context["page"].object_list}


@pytest.fixture
def teams(alice, bob, django_user_model):
    """Default team (alice admin, bob lead) and Field sales (dora lead); erin leads both; pat administers the portal."""
    field = Team.objects.create(name="Field sales")
    default = Team.objects.default()
    dora = django_user_model.objects.create_user("dora")
    set_role(dora, "teamlead", field)
    erin = django_user_model.objects.create_user("erin")
    set_role(erin, "teamlead", field)
    set_role(erin, "teamlead", default)
    pat = django_user_model.objects.create_user("pat")
    set_portal_admin(pat)
    make_instance(alice, name="default-ready", team=default, tags=",sales,")
    make_instance(alice, name="default-failed", team=default, status=Instance.Status.FAILED, tags=",finance,")
    make_instance(bob, name="field-ready", team=field, tags=",field,")
    make_instance(bob, name="field-reauth", team=field, status=Instance.Status.NEEDS_REAUTH)
    make_instance(bob, name="field-deleted", team=field, status=Instance.Status.DELETED)
    return {"default": default, "field": field, "dora": dora, "erin": erin, "pat": pat}


def test_a_team_lead_sees_only_their_team(teams, bob_client):
    response = bob_client.get(URL)
    assert _names(response) == {"default-ready", "default-failed"}
    counts = response.context["counts"]
    assert (counts["total"], counts["status_ready"], counts["status_failed"], counts["status_needs_reauth"]) == (
        2, 1, 1, 0)
    assert response.context["tags"] == ["finance", "sales"] and response.context["owners"] == ["alice"]
    assert response.context["chart"]["total"] == 2
    html = response.content.decode()
    assert "field-ready" not in html and 'name="team"' not in html  # one team: no team filter


def test_another_team_lead_sees_theirs(teams):
    response = _client(teams["dora"]).get(URL)
    assert _names(response) == {"field-ready", "field-reauth"}
    assert response.context["counts"]["status_needs_reauth"] == 1
    assert response.context["counts"]["status_deleted"] == 1
    assert response.context["tags"] == ["field"] and response.context["owners"] == ["bob"]


def test_people_in_several_teams_get_a_team_filter(teams):
    client = _client(teams["erin"])
    response = client.get(URL)
    assert _names(response) == {"default-ready", "default-failed", "field-ready", "field-reauth"}
    assert response.context["counts"]["total"] == 4
    html = response.content.decode()
    assert 'name="team"' in html and "Field sales" in html and "Default team" in html
    narrowed = client.get(URL, {"team": teams["field"].pk})
    assert _names(narrowed) == {"field-ready", "field-reauth"}
    assert narrowed.context["counts"]["total"] == 2 and narrowed.context["tags"] == ["field"]
    assert f'href="/instances/?team={teams["field"].pk}&amp;status=failed"' in narrowed.content.decode()


def test_a_team_filter_outside_ones_teams_is_refused(teams):
    other = Team.objects.create(name="Elsewhere")
    response = _client(teams["erin"]).get(URL, {"team": other.pk})
    assert response.status_code == 400
    assert "Some filters were ignored" in response.content.decode()
    assert _client(teams["dora"]).get(URL, {"team": teams["default"].pk}).status_code == 400
    assert _client(teams["erin"]).get(URL + "export.csv", {"team": other.pk}).status_code == 400


def test_portal_administrators_see_every_team(teams):
    response = _client(teams["pat"]).get(URL)
    assert len(_names(response)) == 4 and response.context["counts"]["total"] == 4
    assert 'name="team"' in response.content.decode()


def test_the_csv_export_is_scoped_too(teams, bob_client):
    body = b"".join(bob_client.get(URL + "export.csv").streaming_content).decode()
    assert {row["name"] for row in csv.DictReader(io.StringIO(body))} == {"default-ready", "default-failed"}
    body = b"".join(_client(teams["erin"]).get(URL + "export.csv", {"team": teams["field"].pk})
                    .streaming_content).decode()
    assert {row["name"] for row in csv.DictReader(io.StringIO(body))} == {"field-ready", "field-reauth"}


def test_state_filters_are_counted_from_the_counters_and_others_are_capped(teams, bob_client, monkeypatch):
    page = bob_client.get(URL, {"status": "failed"}).context["page"]
    assert (page.total, page.capped) == (1, False)
    page = bob_client.get(URL, {"q": "default"}).context["page"]
    assert (page.total, page.capped) == (2, False)
    monkeypatch.setattr(dashboard_views, "COUNT_CAP", 1)
    response = bob_client.get(URL, {"q": "default"})
    assert (response.context["page"].total, response.context["page"].capped) == (1, True)
    assert "more than 1 instance" in response.content.decode() and "Counting stops at 1" in response.content.decode()


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 3 and numbered links up to page 2, so a few rows exercise the cursors."""
    monkeypatch.setattr(paging, "PAGE_SIZE", 3)
    monkeypatch.setattr(paging, "MAX_NUMBERED_PAGE", 2)


@pytest.mark.parametrize("sort", ["-created", "name", "-name", "secret", "-secret", "owner", "-calls"])
def test_next_and_previous_walk_every_row_once(alice, bob, bob_client, small_pages, sort):
    for n in range(11):
        # Ties and empty values on the sort column: the id and "empty last" must still order every row.
        expires = None if n % 3 == 0 else dt.date(2030, 1, 1 + n % 4)
        make_instance(alice if n % 2 else bob, name=f"row-{n:02d}", secret_expires_on=expires)
    expected = [i.name for i in bob_client.get(URL, {"sort": sort, "status": "all"}).context["page"].object_list]
    pages, response, params = [], None, {"sort": sort}
    while True:
        response = bob_client.get(URL, params)
        assert response.status_code == 200
        page = response.context["page"]
        pages.append([i.name for i in page.object_list])
        if not page.has_next:
            break
        params = {"sort": sort, "page": page.next_page} if page.next_page else {"sort": sort,
                                                                                "cursor": page.next_cursor}
    walked = [name for names in pages for name in names]
    assert len(walked) == 11 and len(set(walked)) == 11
    assert walked[:3] == expected[:3]
    assert response.context["page"].number == 4 and "Page 4 of 4" in response.content.decode()
    # ... and back again with Previous.
    back = []
    while True:
        page = response.context["page"]
        back.insert(0, [i.name for i in page.object_list])
        if not page.has_previous:
            break
        params = ({"sort": sort, "cursor": page.previous_cursor} if page.previous_cursor
                  else {"sort": sort, "page": page.previous_page} if page.previous_page else {"sort": sort})
        response = bob_client.get(URL, params)
    assert back == pages


def test_bad_pages_and_cursors_are_refused_in_plain_words(alice, bob_client, small_pages):
    for n in range(8):
        make_instance(alice, name=f"row-{n}")
    cursor = bob_client.get(URL, {"page": 2}).context["page"].next_cursor
    assert cursor
    assert bob_client.get(URL, {"cursor": cursor}).status_code == 200
    for params, words in [({"page": "9"}, "reached with Next and Previous"), ({"page": "x"}, "whole number"),
                          ({"cursor": cursor[:-2] + "xx"}, "damaged"),
                          ({"cursor": cursor, "sort": "name"}, "another sort order")]:
        response = bob_client.get(URL, params)
        assert response.status_code == 400 and words in response.content.decode(), params
        assert len(response.context["page"].object_list) == 3  # the first page instead
