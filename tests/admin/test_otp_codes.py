"""generateOOBOTPCode: the code it returns is accepted once by the flow engine."""

from __future__ import annotations

from tests.admin.conftest import ok
from tests.factories import make_user

MUTATION = """
mutation G($target: String!, $purpose: OTPPurpose) {
  generateOOBOTPCode(input: {target: $target, purpose: $purpose}) { code }
}
"""


def test_generated_login_code_signs_in_with_secondary_email_otp(gql, client, app, svc):
    user = make_user(svc, email="otp-admin@example.com", password="Otp-admin-pass-1")
    svc.oob.create(user.id, "email", "otp-admin@example.com", "secondary")
    from app.extensions import db

    db.session.commit()
    start = client.post(
        "/api/v1/authentication_flows",
        json={
            "type": "login",
            "name": "default",
            "batch_input": [
                {"identification": "email", "login_id": "otp-admin@example.com"},
                {"authentication": "primary_password", "password": "Otp-admin-pass-1"},
                {"authentication": "secondary_oob_otp_email", "index": 0},
            ],
        },
    ).get_json()["result"]
    assert start["action"]["data"]["type"] == "verify_oob_otp_data"
    code = ok(gql(MUTATION, target="OTP-Admin@Example.com", purpose="LOGIN"))["generateOOBOTPCode"]["code"]
    assert len(code) == 6 and code.isdigit()
    body = {"state_token": start["state_token"], "input": {"code": code}}
    done = client.post("/api/v1/authentication_flows/states/input", json=body).get_json()
    assert done["result"]["action"]["type"] == "finished"


def test_bad_targets_are_validation_errors(gql):
    body = gql(MUTATION, target="not-an-address")
    assert body["errors"][0]["extensions"]["reason"] == "ValidationFailed"
    body = gql(MUTATION, target="+1")
    assert body["errors"][0]["extensions"]["reason"] == "ValidationFailed"
