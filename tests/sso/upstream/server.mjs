// The OpenID Provider the SSO tests sign in at: panva/node-oidc-provider (OpenID Certified), with
// its development login and consent pages. Plays the generic `oidc` upstream and, with `upn` in its ID
// tokens, AD FS. Usage: node server.mjs <port> <config.json>; prints "ready" once listening.
//
// config.json: {"clients": [{client_id, client_secret, redirect_uris}], "accounts": {"<login>": {claims}}}
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    ...c,
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
  })),
  // The login is the account's key; any password (the development interaction).
  async findAccount(ctx, id) {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ["sub", "upn"],
    email: ["email", "email_verified"],
    profile: ["name", "given_name", "family_name", "preferred_username", "picture"],
  },
  // Scope-requested claims in the ID token too, as AD FS puts them there.
  conformIdTokenClaims: false,
  // Confidential clients must send a PKCE challenge here: proves the relying party sends one.
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["gatehouse-test-upstream"] },
  ttl: { Session: 600, Interaction: 600, Grant: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 120 },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
