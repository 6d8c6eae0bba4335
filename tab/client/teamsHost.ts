import { app, pages } from '@microsoft/teams-js';

/**
 * Where the page runs. Teams hosts a tab in an iframe (web, desktop) or a webview with a native
 * bridge (mobile); a plain browser tab has neither. Only then is `app.initialize()` tried, and it
 * is raced against a timeout: framed by something that is not a Teams host, initialize would wait
 * forever for an answer that never comes.
 */
export type Host =
  | { kind: 'browser' }
  | { kind: 'teams'; theme: string; userPrincipalName: string | null; subPageId: string | null; hostName: string | null };

const INIT_TIMEOUT_MS = 4_000;

export function mayBeInTeams(w: Window = window): boolean {
  let framed = false;
  try {
    framed = w.self !== w.top;
  } catch {
    framed = true; // a cross-origin parent denies access to top: framed
  }
  // The manifest's contentUrl says ?host=teams; a plain browser opening it is told apart by initialize failing fast.
  const hinted = new URLSearchParams(w.location.search).get('host') === 'teams';
  return framed || hinted || !!w.opener || 'nativeInterface' in w;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not answer in ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}

export async function detectHost(onTheme: (theme: string) => void): Promise<Host> {
  if (!mayBeInTeams()) return { kind: 'browser' };
  try {
    await withTimeout(app.initialize(), INIT_TIMEOUT_MS, 'Microsoft Teams');
    const ctx = await withTimeout(app.getContext(), INIT_TIMEOUT_MS, 'Microsoft Teams (context)');
    app.registerOnThemeChangeHandler(onTheme);
    app.notifySuccess();
    return {
      kind: 'teams',
      theme: ctx.app.theme ?? 'default',
      userPrincipalName: ctx.user?.userPrincipalName ?? null,
      // A deep link's subPageId, else a tab instance's entityId, may name the run to open.
      subPageId: ctx.page.subPageId || (ctx.page.id && ctx.page.id !== 'dashboard' ? ctx.page.id : null),
      hostName: ctx.app.host.name ?? null,
    };
  } catch (err) {
    console.info('Not running inside Microsoft Teams; continuing as a plain page.', err);
    return { kind: 'browser' };
  }
}

/**
 * How the page proves it speaks for an instructor: the workshop API's instructor key (`x-api-key`),
 * typed in once and kept for this browser tab (sessionStorage), or handed over in the URL
 * fragment (`#key=…`, which never reaches a server) and then removed from the address bar.
 *
 * Teams single sign-on is the seam for the tab: `authentication.getAuthToken()` from
 * `@microsoft/teams-js` returns an Entra ID token for the app named in the manifest's
 * `webApplicationInfo`. The workshop API does not accept such tokens yet (`http/apiAuth.ts` knows
 * the key and learner tokens only); once it validates them (issuer, audience = the app's
 * `api://…` URI, the user among the run's instructors), `credentialHeaders` returns
 * `{ authorization: 'Bearer ' + token }` in Teams instead of the key. Until then the tab asks for
 * the key like the browser page does.
 */
const KEY_STORAGE = 'workshop.instructorKey';

export function readKey(): string | null {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = hash.get('key');
  if (fromHash) {
    saveKey(fromHash);
    hash.delete('key');
    const rest = hash.toString();
    history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    return fromHash;
  }
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null; // storage blocked (some embedded webviews): the key lives in memory only
  }
}

export function saveKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage blocked: nothing to remember it in */
  }
}

export function credentialHeaders(key: string): Record<string, string> {
  return { 'x-api-key': key };
}

/**
 * The team tab's configuration page (manifest `configurationUrl` = /api/tab/configure): nothing to
 * choose up front — the run is picked inside the tab — so the page is valid at once and Save
 * points the tab at the dashboard.
 */
export function offerTabConfiguration(): void {
  const base = new URL('./', location.href.replace(/[?#].*$/, '')).href;
  pages.config.registerOnSaveHandler((save) => {
    pages.config
      .setConfig({ entityId: 'dashboard', contentUrl: `${base}?host=teams`, websiteUrl: base, suggestedDisplayName: 'Workshop dashboard' })
      .then(
        () => save.notifySuccess(),
        (err: unknown) => save.notifyFailure(`The dashboard tab could not be saved: ${(err as Error).message}`),
      );
  });
  pages.config.setValidityState(true);
}
