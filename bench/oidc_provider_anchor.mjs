// The token endpoint's anchor in bench/tokens.py: panva/node-oidc-provider (OpenID Certified), the
// copy pinned and installed for the SSO tests (tests/sso/upstream/package.json), issuing RFC 9068 JWT
// access tokens on client_credentials for one resource indicator (RFC 8707), signed RS256 with the
// same RSA key as the Gatehouse stack it is compared with. One Node process, in-memory adapter (a JWT
// access token is not stored by oidc-provider).
//
// Usage: node bench/oidc_provider_anchor.mjs <port> <config.json>; prints "ready" once listening.
// config.json: {"client_id", "client_secret", "resource", "scopes": [..], "jwk": {private RSA JWK},
//               "access_token_ttl": seconds}
import { readFileSync } from "node:fs";

const { default: Provider, errors } = await import(
  new URL("../tests/sso/upstream/node_modules/oidc-provider/lib/index.js", import.meta.url)
);

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const issuer = `http://127.0.0.1:${port}`;
const scope = config.scopes.join(" ");

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: "client_secret_basic",
      scope,
    },
  ],
  jwks: { keys: [config.jwk] },
  scopes: config.scopes,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      async getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== config.resource) throw new errors.InvalidTarget();
        return {
          scope,
          audience: resourceIndicator,
          accessTokenTTL: config.access_token_ttl,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  ttl: { ClientCredentials: config.access_token_ttl },
  cookies: { keys: ["gatehouse-bench-anchor"] },
});
provider.proxy = false;
// Quiet: the bench reads stdout for "ready" only.
provider.on("server_error", (ctx, error) => console.error(error));
provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
