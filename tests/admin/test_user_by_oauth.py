"""Admin API `getUserByOAuth`: by a configured provider alias and the provider's subject; an alias
the project does not configure is Authgear's `Invalid/GetUsersInvalidArgument`."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.identities.models import Identity
from tests.admin.conftest import error_of, gid, ok
from tests.factories import make_user


@pytest.fixture
def app(make_app, make_config):
    provider = {"alias": "google", "type": "google", "client_id": "google-client"}
    secrets = {
        **make_config().secrets,
        "sso.oauth.client": {"items": [{"alias": "google", "client_secret": "google-secret"}]},
    }
    return make_app({"identity": {"oauth": {"providers": [provider]}}}, secrets=secrets)


def test_get_user_by_oauth(gql, svc):
    user = make_user(svc)
    db.session.add(
        Identity(
            user_id=user.id,
            type="oauth",
            dedup_key="oauth:google:10987",
            provider_type="google",
            provider_alias="google",
            provider_subject_id="10987",
            claims={"email": "g@example.com"},
        )
    )
    db.session.commit()
    query = "query($a: String!, $s: String!) { getUserByOAuth(oauthProviderAlias: $a, oauthProviderUserID: $s) { id } }"
    assert ok(gql(query, a="google", s="10987"))["getUserByOAuth"] == {"id": gid("User", user.id)}
    assert ok(gql(query, a="google", s="other"))["getUserByOAuth"] is None
    refused = gql(query, a="github", s="10987")
    assert error_of(refused)["reason"] == "GetUsersInvalidArgument"
    assert refused["errors"][0]["message"] == "invalid OAuth provider alias"
