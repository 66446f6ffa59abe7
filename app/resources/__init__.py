"""Resources (APIs identified by a URI) and their scopes, and which OAuth clients may use them:
what a machine-to-machine client may ask the token endpoint for (Authgear's resourcescope)."""
