"""The Authentication Flow API under random input: create, input and get with bodies of any
shape, hostile strings (lone surrogates, NUL, oversized), deep nesting and huge numbers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.flows.definitions import FLOW_TYPES
from tests.fuzz.conftest import assert_envelope, fuzz_settings
from tests.fuzz.strategies import hostile_strings, json_values, objects_with, raw_bodies

FLOWS = "/api/v1/authentication_flows"
INPUT = FLOWS + "/states/input"
STATES = FLOWS + "/states"

INPUT_KEYS = [
    "identification",
    "login_id",
    "authentication",
    "password",
    "new_password",
    "code",
    "index",
    "channel",
    "target",
    "resend",
    "request_device_token",
    "recovery_code",
    "account_recovery_code",
    "attributes",
    "authenticator_id",
    "id_token",
    "otp",
    "secret",
    "value",
    "pointer",
]
# Values that take a step further than random JSON does: real choices of the default flows.
LIKELY_VALUES = st.sampled_from(
    [
        "email",
        "phone",
        "username",
        "primary_password",
        "primary_oob_otp_email",
        "secondary_totp",
        "recovery_code",
        "fuzz@example.com",
        "+85251000000",
        "fuzz_user",
        "Pa55-word-fuzz",
        "123456",
        0,
        1,
        True,
    ]
)
inputs = objects_with(INPUT_KEYS, st.one_of(LIKELY_VALUES, json_values))
create_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "type": st.one_of(st.sampled_from(FLOW_TYPES), hostile_strings),
            "name": st.one_of(st.just("default"), hostile_strings),
        },
        optional={
            "url_query": st.one_of(hostile_strings, st.just("&".join(f"p{i}=1" for i in range(60)))),
            "batch_input": st.lists(inputs, max_size=3),
            "bot_protection": json_values,
            "extra": json_values,
        },
    ),
)


def _start(client: Any, flow_type: str) -> str:
    resp = client.post(FLOWS, json={"type": flow_type, "name": "default"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["result"]["state_token"]


@pytest.mark.embedded
@fuzz_settings(150)
@given(body=create_bodies)
def test_create_with_random_bodies(fuzz_app, body):
    assert_envelope(fuzz_app.test_client().post(FLOWS, json=body))


@pytest.mark.embedded
@fuzz_settings(60)
@given(path=st.sampled_from([FLOWS, INPUT, STATES]), raw=raw_bodies)
def test_raw_bodies(fuzz_app, path, raw):
    resp = fuzz_app.test_client().post(path, data=raw, content_type="application/json")
    error = assert_envelope(resp)
    assert error is not None  # none of these is a valid request


@pytest.mark.embedded
@fuzz_settings(150)
@given(
    flow_type=st.sampled_from(["login", "signup", "account_recovery", "signup_login"]),
    steps=st.lists(inputs, min_size=1, max_size=4),
    batch=st.booleans(),
)
def test_inputs_with_random_values(fuzz_app, flow_type, steps, batch):
    """A fresh flow, then random inputs, each fed to the state the previous one produced."""
    client = fuzz_app.test_client()
    token = _start(client, flow_type)
    if batch:
        assert_envelope(client.post(INPUT, json={"state_token": token, "batch_input": steps}))
        return
    for inp in steps:
        resp = client.post(INPUT, json={"state_token": token, "input": inp})
        assert_envelope(resp)
        if resp.status_code == 200:
            token = resp.get_json()["result"]["state_token"]


@pytest.mark.embedded
@fuzz_settings(60)
@given(token=st.one_of(hostile_strings, json_values), body_extra=objects_with(["input", "batch_input", "x"]))
def test_states_and_inputs_with_random_state_tokens(fuzz_app, token, body_extra):
    client = fuzz_app.test_client()
    assert_envelope(client.post(STATES, json={"state_token": token}))
    assert_envelope(client.post(INPUT, json={**body_extra, "state_token": token}))
