"""Step types, one module each; importing this package registers them all."""

from app.flows.steps import (  # noqa: F401
    account_recovery,
    authenticate,
    change_password,
    check_account_status,
    create_authenticator,
    identify,
    prompt_create_passkey,
    terminate_other_sessions,
    user_profile,
    verify,
    view_recovery_code,
)
