"""Problem details for what the API itself cannot read or did not expect."""

from __future__ import annotations

import json

import pytest
import requests
from django.http import Http404

from setup_portal.api.crm.gateway import json_of
from setup_portal.api.problems import PROBLEM_CONTENT_TYPE, TYPE_PREFIX, Problem, exception_handler


def _answer(body: bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers["Content-Type"] = "application/json"
    return response


def test_it_answers_502_when_dataverse_sends_something_that_is_not_json():
    with pytest.raises(Problem) as raised:
        json_of(_answer(b"<html>gateway</html>"))
    assert raised.value.status_code == 502 and raised.value.code == "bad_response"
    assert json_of(_answer(b'{"value": []}')) == {"value": []}


def test_it_answers_a_bug_as_a_500_problem_without_its_details(caplog):
    response = exception_handler(ZeroDivisionError("secret detail"), {"request": None})
    body = response.data
    assert response.status_code == 500 and response.content_type == PROBLEM_CONTENT_TYPE
    assert body["type"] == TYPE_PREFIX + "internal-error" and "secret detail" not in json.dumps(body)
    assert "ZeroDivisionError" in caplog.text


def test_it_answers_django_404_as_a_problem():
    response = exception_handler(Http404("x"), {"request": None})
    assert response.status_code == 404
