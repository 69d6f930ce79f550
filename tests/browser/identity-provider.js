// A real OpenID Connect provider for the single sign-on tests: panva's `oidc-provider` (the
// certified Node.js implementation) on a loopback port, with its development sign-in form,
// where any password is accepted for the accounts below.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

export const accounts = {
  asha: { email: 'asha@zelly.example', name: 'Asha Rao', groups: ['platform-admins'] },
  meera: { email: 'Meera@Zelly.example', name: 'Meera Iyer', groups: [] },
  guest: { email: 'guest@elsewhere.example', name: 'A Guest', groups: [] },
  // A provider account whose address nobody checked (no email_verified claim at all).
  ravi: { email: 'ravi@zelly.example', name: 'Ravi Kumar', groups: [], unverified: true },
  // Another account at the provider claiming Asha's (verified) address.
  impostor: { email: 'asha@zelly.example', name: 'Not Asha', groups: ['platform-admins'] },
};

export const client = { id: 'zelly', secret: 'idp-test-client-secret' };

/** A free loopback port (for a server that must be told its address before it starts). */
export async function freePort() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts the provider; resolves to { issuer, stop }. `redirectUri` is Zelly's callback. */
export async function startIdentityProvider(redirectUri) {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: client.id,
      client_secret: client.secret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    // Claims in the ID token itself (Zelly calls no userinfo endpoint).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['browser-test-cookie-key'] },
    // Stated, so that the provider does not print a notice for each default it falls back to.
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    findAccount: async (ctx, id) => {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          email: account.email,
          ...(account.unverified ? {} : { email_verified: true }),
          name: account.name,
          groups: account.groups,
        }),
      };
    },
  });
  server.on('request', provider.callback());
  return { issuer, stop: () => new Promise((resolve) => server.close(resolve)) };
}
