"""The one error mapping (contract 0.2): JSON envelope for API callers, an HTML page for browsers,
the 1 MiB body cap (contract 0.3), no internals in 500s, security headers (DESIGN.md section 5)."""

from __future__ import annotations

import logging

import pytest
from flask import jsonify, request

from app.errors import AppError, BadRequest, Invalid, ValidationFailed
from app.extensions import csrf

pytestmark = pytest.mark.embedded

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
MIB = 1024 * 1024
LEAK = "secret-internal-detail-4711"


def assert_envelope(resp, status: int, name: str, reason: str | None = None) -> dict:
    assert resp.status_code == status
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["name"] == name
    assert error["code"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["reason"], str) and error["reason"]
    if reason is not None:
        assert error["reason"] == reason
    return error


@pytest.fixture
def test_app(make_app):
    """An app with test-only routes (registered before its first request)."""
    application = make_app()

    def echo():
        return jsonify({"result": {"size": len(request.get_json())}})

    def boom():
        raise RuntimeError(LEAK)

    def invalid():
        raise ValidationFailed([{"location": "/x", "kind": "type", "details": {"expected": ["string"]}}])

    def plain_invalid():
        raise Invalid("SomethingWrong", "something is wrong")

    def strict_json():
        return jsonify({"result": request.get_json()})

    # Test-only JSON endpoints, exempt from CSRF like the real API blueprints.
    csrf.exempt(echo)
    csrf.exempt(strict_json)
    application.add_url_rule("/api/_test/echo", "t_echo", echo, methods=["POST"])
    application.add_url_rule("/_test/boom", "t_boom", boom)
    application.add_url_rule("/api/_test/invalid", "t_invalid", invalid)
    application.add_url_rule("/api/_test/plain", "t_plain", plain_invalid)
    application.add_url_rule("/api/_test/strict", "t_strict", strict_json, methods=["POST"])
    return application


# -- body cap -------------------------------------------------------------------------------------


def test_body_over_one_mib_is_413_json_too_large(test_app):
    client = test_app.test_client()
    body = b'"' + b"a" * MIB + b'"'
    resp = client.post("/api/_test/echo", data=body, content_type="application/json")
    error = assert_envelope(resp, 413, "RequestEntityTooLarge", "JSONTooLarge")
    assert "info" not in error


def test_body_just_under_the_cap_is_accepted(test_app):
    client = test_app.test_client()
    body = b'"' + b"a" * (MIB - 2) + b'"'
    assert len(body) == MIB
    resp = client.post("/api/_test/echo", data=body, content_type="application/json")
    assert resp.status_code == 200
    assert resp.get_json() == {"result": {"size": MIB - 2}}


@pytest.mark.parametrize("path", ["/healthz", "/no-such-path", "/api/v1/authentication_flows"])
def test_cap_applies_to_routes_that_never_read_the_body(client, path):
    resp = client.post(path, data=b"x" * (MIB + 1), content_type="application/octet-stream", headers=JSON)
    assert_envelope(resp, 413, "RequestEntityTooLarge", "JSONTooLarge")


def test_oversized_form_post_from_a_browser_gets_the_html_page(client):
    resp = client.post("/no-such-page", data={"field": "x" * (MIB + 10)}, headers=HTML)
    assert resp.status_code == 413
    assert resp.mimetype == "text/html"
    assert "RequestEntityTooLarge" in resp.get_data(as_text=True)


# -- not found ------------------------------------------------------------------------------------


def test_unknown_path_is_404_envelope_for_json_callers(client):
    resp = client.get("/definitely/not/here", headers=JSON)
    error = assert_envelope(resp, 404, "NotFound")
    assert "info" not in error


@pytest.mark.parametrize("path", ["/api/nope", "/_api/admin/nope", "/oauth2/nope", "/_resolver/nope"])
def test_api_paths_answer_json_even_to_browsers(client, path):
    assert_envelope(client.get(path, headers=HTML), 404, "NotFound")


def test_unknown_path_is_an_html_page_for_browsers(client):
    resp = client.get("/definitely/not/here", headers=HTML)
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    text = resp.get_data(as_text=True)
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "NotFound" in text


@pytest.mark.parametrize(
    "path",
    [
        "/" + "a" * 8000,
        "/%00",
        "/..%2f..%2fetc%2fpasswd",
        "/<script>alert(1)</script>",
        "/%ff%fe",
    ],
)
def test_hostile_paths_get_the_envelope_not_a_500(client, path):
    resp = client.get(path, headers=JSON)
    assert_envelope(resp, 404, "NotFound")
    assert "<script>" not in resp.get_data(as_text=True)


def test_hostile_path_is_escaped_in_the_html_page(client):
    resp = client.get("/<script>alert(1)</script>", headers=HTML)
    assert resp.status_code == 404
    assert "<script>" not in resp.get_data(as_text=True)


def test_wrong_method_is_a_client_error_envelope(client):
    resp = client.delete("/healthz", headers=JSON)
    assert 400 <= resp.status_code < 500
    assert resp.get_json()["error"]["name"] in {"BadRequest", "NotFound"}


def test_malformed_json_body_is_bad_request(test_app):
    client = test_app.test_client()
    resp = client.post("/api/_test/strict", data=b'{"a": ', content_type="application/json")
    assert_envelope(resp, 400, "BadRequest")


# -- unexpected errors ----------------------------------------------------------------------------


def test_unexpected_exception_is_500_without_internals(test_app, caplog):
    client = test_app.test_client()
    with caplog.at_level(logging.ERROR):
        resp = client.get("/_test/boom", headers=JSON)
    error = assert_envelope(resp, 500, "InternalError")
    text = resp.get_data(as_text=True)
    for leaked in (LEAK, "RuntimeError", "Traceback", 'File "', "line "):
        assert leaked not in text
    assert "info" not in error
    # The details go to the log (for the operator), not to the client.
    assert any(r.exc_info and LEAK in str(r.exc_info[1]) for r in caplog.records)


def test_unexpected_exception_html_page_has_no_internals(test_app):
    resp = test_app.test_client().get("/_test/boom", headers=HTML)
    assert resp.status_code == 500
    assert resp.mimetype == "text/html"
    text = resp.get_data(as_text=True)
    assert "InternalError" in text
    assert LEAK not in text and "Traceback" not in text


def test_info_is_present_when_set(test_app):
    error = assert_envelope(test_app.test_client().get("/api/_test/invalid"), 400, "Invalid", "ValidationFailed")
    assert error["info"] == {"causes": [{"location": "/x", "kind": "type", "details": {"expected": ["string"]}}]}


def test_info_omitted_when_empty(test_app):
    error = assert_envelope(test_app.test_client().get("/api/_test/plain"), 400, "Invalid", "SomethingWrong")
    assert "info" not in error
    assert error["message"] == "something is wrong"


def test_app_error_names_set_the_status():
    assert BadRequest("X").to_dict() == {"name": "BadRequest", "reason": "X", "message": "X", "code": 400}
    assert AppError("Oops").status == 500


# -- security headers -----------------------------------------------------------------------------


def test_security_headers_on_html_pages(client):
    resp = client.get("/not-here", headers=HTML)
    assert resp.mimetype == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "script-src 'self'" in csp
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in resp.headers  # served over http


def test_hsts_when_public_origin_is_https(make_app):
    resp = (
        make_app({"http": {"public_origin": "https://accounts.example.com"}})
        .test_client()
        .get("/not-here", headers=HTML)
    )
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(resp.headers["Strict-Transport-Security"].split("=")[1].split(";")[0]) >= 31536000


def test_json_responses_are_nosniff(client):
    resp = client.get("/healthz")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
