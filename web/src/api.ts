// The console talks to Lectern only through its public API, with the same tokens as any app.
// The access token lives in memory only; the refresh token in sessionStorage (it survives a
// reload of this tab, not the tab's closing, and is never in localStorage), and every refresh
// spends it and stores the new one, as the API requires.

export const BASE_PATH = new URL(document.baseURI).pathname.replace(/\/?$/, '/');

export function apiUrl(path: string): string {
  return BASE_PATH + path.replace(/^\//, '');
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Role = 'learner' | 'instructor' | 'admin';
export interface Account {
  account_id: string;
  email: string;
  roles: Role[];
}
interface TokenPair {
  access_token: string;
  expires_in: number;
  refresh_token: string;
}

const REFRESH_KEY = 'lectern.refresh';
let access: { token: string; expires: number } | null = null;
let refreshing: Promise<string | null> | null = null;
const listeners = new Set<() => void>();

export function onAuthChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function storeTokens(tokens: TokenPair) {
  access = { token: tokens.access_token, expires: Date.now() + (tokens.expires_in - 20) * 1000 };
  sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  listeners.forEach((listener) => listener());
}

function forget() {
  access = null;
  sessionStorage.removeItem(REFRESH_KEY);
  listeners.forEach((listener) => listener());
}

export function hasSession(): boolean {
  return access !== null || sessionStorage.getItem(REFRESH_KEY) !== null;
}

/// A valid access token, refreshing it when it is about to expire; null when signed out.
export async function accessToken(): Promise<string | null> {
  if (access && access.expires > Date.now()) return access.token;
  const refresh = sessionStorage.getItem(REFRESH_KEY);
  if (!refresh) return null;
  refreshing ??= (async () => {
    try {
      const response = await fetch(apiUrl('v1/auth/refresh'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: refresh }),
      });
      if (!response.ok) {
        if (response.status === 401 || response.status === 400) forget();
        return null;
      }
      storeTokens(await response.json());
      return access?.token ?? null;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const token = await accessToken();
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(apiUrl(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const error = json?.error ?? {};
    if (response.status === 401 && token) forget();
    throw new ApiError(response.status, error.code ?? 'http_error', error.message ?? response.statusText);
  }
  return json as T;
}

export async function signIn(email: string, password: string) {
  storeTokens(await api<TokenPair>('POST', 'v1/auth/login', { email, password }));
}

export async function signUp(email: string, password: string) {
  const registered = await api<{ tokens: TokenPair }>('POST', 'v1/auth/register', { email, password });
  storeTokens(registered.tokens);
}

export async function completeSetup(token: string, email: string, password: string) {
  const registered = await api<{ tokens: TokenPair }>('POST', 'v1/setup', { token, email, password });
  storeTokens(registered.tokens);
}

export async function signOut() {
  try {
    if (await accessToken()) await api('POST', 'v1/auth/logout');
  } finally {
    forget();
  }
}

export const isInstructor = (account: Account | null) =>
  !!account && (account.roles.includes('instructor') || account.roles.includes('admin'));
