// A real OpenID Connect provider (panva/oidc-provider, a certified implementation) for Lectern's
// sign-in tests. Started by tests/api/oauth_oidc.rs as a child process; prints "ready <issuer>" on
// stdout once it listens.
//
// Environment:
//   PORT            port on 127.0.0.1 to listen on
//   CLIENT_ID       the one registered client, with
//   CLIENT_SECRET   its secret (client_secret_basic), and
//   REDIRECT_URI    its redirect URIs (Lectern's callbacks), comma-separated
//   TAMPER          "id_token_signature": flip a character in the signature of every ID token
//                   the token endpoint returns (the token is then forged, as far as Lectern knows)
//
// No browser is needed: the login and consent interactions complete themselves. The account
// signed in is chosen by the authorization request's `login_hint`, which the test appends to
// Lectern's authorization URL: `sub~email~verified`, e.g. `alice-1~alice@example.com~true`.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', use: 'sig', alg: 'RS256' };

function account(accountId) {
  const [sub, email, verified] = accountId.split('~');
  return {
    accountId,
    async claims() {
      return { sub, email, email_verified: verified === 'true', name: sub };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: process.env.REDIRECT_URI.split(','),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  // PKCE for every client, confidential ones included: a token request without the right
  // code_verifier is refused.
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Put the requested claims into the ID token itself (as Google and Apple do).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (_ctx, id) => account(id),
  cookies: { keys: ['lectern-test-cookie-key'] },
});

// Login and consent complete themselves.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) {
    return next();
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (details.prompt.name === 'login') {
    result = { login: { accountId: details.params.login_hint || 'anonymous~anonymous@example.com~true' } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  const location = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.set('Location', location);
  ctx.body = '';
});

if (process.env.TAMPER === 'id_token_signature') {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.body && typeof ctx.body.id_token === 'string') {
      const [header, payload, signature] = ctx.body.id_token.split('.');
      const middle = Math.floor(signature.length / 2);
      const flipped = signature[middle] === 'A' ? 'B' : 'A';
      ctx.body = { ...ctx.body, id_token: `${header}.${payload}.${signature.slice(0, middle)}${flipped}${signature.slice(middle + 1)}` };
    }
  });
}

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
