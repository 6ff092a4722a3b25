"""Service protection limits per user and environment: 429 with Retry-After and Dataverse's
error code for each of the three limits, lowered through the test hook."""

from __future__ import annotations

import threading

from .conftest import set_limits


def test_it_throttles_the_number_of_requests(sbx, app_api, lee_api):
    set_limits(sbx, requests=3, window_seconds=120)
    for left in (2, 1, 0):
        resp = app_api.get("WhoAmI")
        assert resp.status_code == 200
        assert resp.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == str(left)
    throttled = app_api.get("accounts?$top=1")
    assert throttled.status_code == 429
    assert throttled.json()["error"] == {
        "code": "0x80072322", "message": "Number of requests exceeded the limit of 3 over time window of 120 seconds."}
    assert 1 <= int(throttled.headers["Retry-After"]) <= 120
    # Per user: another user is not held back.
    assert lee_api.get("accounts?$top=1").status_code == 200


def test_it_throttles_combined_execution_time(sbx, app_api):
    set_limits(sbx, execution_ms=250, delay_ms=150)
    assert app_api.get("WhoAmI").status_code == 200
    assert app_api.get("WhoAmI").status_code == 200
    throttled = app_api.get("WhoAmI")
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "0x80072321"
    assert throttled.json()["error"]["message"].startswith("Combined execution time of incoming requests exceeded "
                                                           "limit of 250 milliseconds over time window of 300 seconds.")
    assert int(throttled.headers["Retry-After"]) >= 1


def test_it_throttles_concurrent_requests(sbx, app_api):
    set_limits(sbx, concurrent=2, delay_ms=1500)
    answers: list = []
    together = threading.Barrier(4)

    def call() -> None:
        session = app_api.sbx.session()
        together.wait(10)
        answers.append(session.get(app_api.base + "WhoAmI", headers=dict(app_api.session.headers)))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(200) == 2 and statuses.count(429) == 2
    throttled = next(r for r in answers if r.status_code == 429)
    assert throttled.json()["error"] == {"code": "0x80072326",
                                         "message": "Number of concurrent requests exceeded the limit of 2."}
    assert throttled.headers["Retry-After"] == "1"


def test_the_hook_shows_limits_and_usage_and_restores_them(sbx, app_api):
    assert set_limits(sbx, requests=10)["limits"]["requests"] == 10
    app_api.get("WhoAmI")
    report = sbx.admin("GET", "dataverse/limits")
    (usage,) = report["usage"]
    assert usage["requests"] == 1 and usage["requests_remaining"] == 9 and usage["environment"] == "contoso"
    assert set_limits(sbx)["limits"] == report["defaults"]
    assert report["defaults"]["requests"] == 6000 and report["defaults"]["concurrent"] == 52


def test_the_hook_refuses_bad_limits(sbx):
    session = sbx.session()
    url = f"{sbx.info['backchannel_base']}/_sandbox/dataverse/limits"
    for body in ({"requests": 0}, {"requests": "3"}, {"burst": 1}, {"delay_ms": 10**6}):
        assert session.post(url, json=body).status_code == 400


def test_a_reset_restores_the_limits(sbx, app_api):
    set_limits(sbx, requests=1)
    app_api.get("WhoAmI")
    assert app_api.get("WhoAmI").status_code == 429
    sbx.reset()
    assert app_api.get("WhoAmI").status_code == 200
