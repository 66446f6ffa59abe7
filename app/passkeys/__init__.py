"""Passkeys: a WebAuthn credential that is both an identity and a primary authenticator.

`relying_party` runs the WebAuthn ceremonies (options, challenge sessions, verification on the
`webauthn` library); `service` keeps the identity + authenticator pair of each credential.
"""
