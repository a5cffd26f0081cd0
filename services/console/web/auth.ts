/**
 * Sign-in with oauth4webapi on the realm's public console client: authorization code with PKCE
 * (S256), state and nonce. Tokens live in this module's memory only (never in storage): a reload
 * signs in again, silently while the Keycloak session lasts. The access token is renewed with the
 * refresh token before it expires; sign-out ends the Keycloak session at its end_session
 * endpoint with the ID token as hint.
 *
 * Only the PKCE verifier, state and nonce of a sign-in under way cross the redirect, in
 * sessionStorage, and are deleted when the browser comes back.
 */
import * as oauth from 'oauth4webapi';

import type { ConsoleConfig } from '../src/contract.js';

/** The claims of the access token the console reads (the APIs verify them; it only shows). */
export interface AccessClaims {
  readonly sub?: string;
  readonly preferred_username?: string;
  readonly name?: string;
  readonly tenants?: readonly string[];
  readonly roles?: readonly string[];
  readonly exp?: number;
}

/** A signed-in user. */
export interface Session {
  readonly claims: AccessClaims;
  readonly accessToken: string;
  readonly idToken: string;
  readonly refreshToken?: string;
  /** When the access token expires, in ms since the epoch. */
  readonly expiresAt: number;
}

const PENDING = 'kitt4sme-console.pending';
/** Renew this long before the access token expires. */
const RENEW_BEFORE_MS = 30_000;

/** The payload of a JWT, unverified: for display only. */
export function jwtClaims(token: string): AccessClaims {
  const part = token.split('.')[1] ?? '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as AccessClaims;
}

/** The console's OIDC client. */
export class Auth {
  private as?: oauth.AuthorizationServer;
  private readonly client: oauth.Client;
  private session?: Session;
  private timer?: ReturnType<typeof setTimeout>;
  private readonly listeners = new Set<(s: Session | undefined, why?: string) => void>();
  private readonly options: { [oauth.allowInsecureRequests]?: boolean };

  constructor(private readonly config: ConsoleConfig) {
    this.client = { client_id: config.clientId };
    // Plain http only where the platform itself is served so (a laptop, the local stack).
    this.options =
      new URL(config.issuer).protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {};
  }

  /** Where Keycloak sends the browser back: the console's root (`/console/*` is registered). */
  get redirectUri(): string {
    return `${location.origin}${this.config.path}/`;
  }

  get current(): Session | undefined {
    return this.session;
  }

  /** Calls `fn` whenever the user signs in, is renewed or signs out (with why, if not asked). */
  onChange(fn: (s: Session | undefined, why?: string) => void): void {
    this.listeners.add(fn);
  }

  private async server(): Promise<oauth.AuthorizationServer> {
    if (!this.as) {
      const issuer = new URL(this.config.issuer);
      const res = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...this.options });
      this.as = await oauth.processDiscoveryResponse(issuer, res);
    }
    return this.as;
  }

  /** Goes to Keycloak's login page. */
  async signIn(): Promise<void> {
    const as = await this.server();
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce }));
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: this.client.client_id,
      redirect_uri: this.redirectUri,
      response_type: 'code',
      scope: 'openid',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).toString();
    location.assign(url.href);
  }

  /**
   * Finishes a sign-in when the page is Keycloak's answer (`?code=…&state=…`, or `?error=…`);
   * resolves to the session, or undefined when the page is not an answer.
   */
  async complete(): Promise<Session | undefined> {
    const here = new URL(location.href);
    if (!here.searchParams.has('state')) return undefined;
    const pending = sessionStorage.getItem(PENDING);
    sessionStorage.removeItem(PENDING);
    // The code is single-use: take it off the address bar and the history at once.
    history.replaceState(null, '', `${this.config.path}/${here.hash}`);
    if (!pending) throw new Error('This sign-in was not started here; sign in again.');
    const { verifier, state, nonce } = JSON.parse(pending) as Record<string, string>;
    const as = await this.server();
    const params = oauth.validateAuthResponse(as, this.client, here, state);
    const res = await oauth.authorizationCodeGrantRequest(
      as,
      this.client,
      oauth.None(),
      params,
      this.redirectUri,
      verifier!,
      this.options,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, this.client, res, {
      expectedNonce: nonce!,
      requireIdToken: true,
    });
    return this.keep(tokens, tokens.id_token!);
  }

  private keep(tokens: oauth.TokenEndpointResponse, idToken: string): Session {
    const expiresIn = tokens.expires_in ?? 300;
    this.session = {
      claims: jwtClaims(tokens.access_token),
      accessToken: tokens.access_token,
      idToken: tokens.id_token ?? idToken,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      expiresAt: Date.now() + expiresIn * 1000,
    };
    clearTimeout(this.timer);
    if (this.session.refreshToken) {
      const wait = Math.max(5_000, expiresIn * 1000 - RENEW_BEFORE_MS);
      this.timer = setTimeout(() => void this.renew().catch(() => undefined), wait);
    }
    for (const fn of this.listeners) fn(this.session);
    return this.session;
  }

  /** Renews the access token with the refresh token; ends the session when Keycloak refuses. */
  async renew(): Promise<Session | undefined> {
    const s = this.session;
    if (!s?.refreshToken) return s;
    const as = await this.server();
    try {
      const res = await oauth.refreshTokenGrantRequest(
        as,
        this.client,
        oauth.None(),
        s.refreshToken,
        this.options,
      );
      const tokens = await oauth.processRefreshTokenResponse(as, this.client, res);
      return this.keep(tokens, s.idToken);
    } catch (err) {
      this.drop(`Your session ended (${(err as Error).message}); sign in again.`);
      return undefined;
    }
  }

  /** The access token, renewed first when it is about to expire. */
  async token(): Promise<string> {
    let s = this.session;
    if (s && s.expiresAt - Date.now() < RENEW_BEFORE_MS / 2) s = await this.renew();
    if (!s) throw new Error('You are signed out; sign in again.');
    return s.accessToken;
  }

  private drop(why?: string): void {
    clearTimeout(this.timer);
    this.session = undefined;
    for (const fn of this.listeners) fn(undefined, why);
  }

  /** Ends the Keycloak session (end_session endpoint, ID token as hint) and comes back. */
  async signOut(): Promise<void> {
    const s = this.session;
    const as = await this.server();
    this.drop();
    const url = new URL(as.end_session_endpoint!);
    url.search = new URLSearchParams({
      client_id: this.client.client_id,
      post_logout_redirect_uri: this.redirectUri,
      ...(s ? { id_token_hint: s.idToken } : {}),
    }).toString();
    location.assign(url.href);
  }
}
