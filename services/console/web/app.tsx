/**
 * The console's shell: sign-in, the banner (tenant, user, sign-out), the views' navigation and
 * the view of the address's hash (`#/devices`, `#/fleet`, `#/agents`, `#/rollouts`,
 * `#/events`, `#/platform`). Views appear by role: the platform view only for platform admins.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

import { PLATFORM_ROLES, rolesForTenant } from '../../../platform/roles.js';
import type { ConsoleConfig } from '../src/contract.js';
import type { Api } from './api.js';
import type { Auth, Session } from './auth.js';
import { AgentsView } from './views/agents.js';
import { DevicesView } from './views/devices.js';
import { EventsView } from './views/events.js';
import { FleetView } from './views/fleet.js';
import { PlatformView } from './views/platform.js';
import { RolloutsView } from './views/rollouts.js';

const VIEWS = [
  { id: 'devices', label: 'Devices', View: DevicesView },
  { id: 'fleet', label: 'Fleet', View: FleetView },
  { id: 'agents', label: 'Agents', View: AgentsView },
  { id: 'rollouts', label: 'Rollouts', View: RolloutsView },
  { id: 'events', label: 'Events', View: EventsView },
  { id: 'platform', label: 'Platform', View: PlatformView, admins: true },
] as const;

const viewOf = () => location.hash.replace(/^#\/?/, '').split('/')[0] || 'devices';

const isPlatformAdmin = (s: Session) =>
  (s.claims.roles ?? []).some((r) => (PLATFORM_ROLES as readonly string[]).includes(r));

/** The tenants the user may see: the token's, or every tenant for a platform admin. */
function tenantsOf(config: ConsoleConfig, s: Session): string[] {
  if (s.claims.tenants?.length) return [...s.claims.tenants].sort();
  return isPlatformAdmin(s) ? config.tenants.map((t) => t.name) : [];
}

export function App(props: {
  config: ConsoleConfig;
  auth: Auth;
  api: Api;
  problem?: string | undefined;
}) {
  const { config, auth, api } = props;
  const [session, setSession] = useState(auth.current);
  const [why, setWhy] = useState(props.problem);
  const [view, setView] = useState(viewOf());
  const [tenant, setTenant] = useState<string>();
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    auth.onChange((s, reason) => {
      setSession(s);
      if (reason) setWhy(reason);
    });
    const onHash = () => setView(viewOf());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  // A new view moves the focus to its heading, as a page load would.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) first.current = false;
    else heading.current?.focus();
  }, [view]);

  if (!session) {
    return (
      <main class="signin" id="main">
        <h1>KITT4SME console</h1>
        <p>Devices, agents and rollouts of your tenants, signed in through the platform.</p>
        {why && (
          <p class="error" role="alert">
            {why}
          </p>
        )}
        <button type="button" class="primary" onClick={() => void auth.signIn()}>
          Sign in
        </button>
      </main>
    );
  }

  const tenants = tenantsOf(config, session);
  const current = tenant && tenants.includes(tenant) ? tenant : tenants[0];
  const admin = isPlatformAdmin(session);
  const views = VIEWS.filter((v) => !('admins' in v) || admin);
  const active = views.find((v) => v.id === view) ?? views[0]!;
  const mayWrite = (name: keyof ConsoleConfig['apis']) => {
    const writers = config.apis[name]?.writers ?? [];
    return (
      current !== undefined &&
      rolesForTenant(session.claims.roles ?? [], current).some((r) => writers.includes(r))
    );
  };
  const user = session.claims.preferred_username ?? session.claims.name ?? session.claims.sub;

  return (
    <>
      <a class="skip" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header class="banner">
        <p class="brand">KITT4SME console</p>
        <nav aria-label="Views">
          <ul>
            {views.map((v) => (
              <li key={v.id}>
                <a href={`#/${v.id}`} aria-current={v.id === active.id ? 'page' : undefined}>
                  {v.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {tenants.length > 0 && (
            <label>
              Tenant{' '}
              <select
                value={current}
                onChange={(e) => setTenant((e.target as HTMLSelectElement).value)}
              >
                {tenants.map((t) => (
                  <option key={t} value={t}>
                    {config.tenants.find((c) => c.name === t)?.displayName ?? t}
                  </option>
                ))}
              </select>
            </label>
          )}
          <span class="user" data-testid="user">
            {user}
          </span>
          <button type="button" onClick={() => void auth.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <h1 ref={heading} tabIndex={-1}>
          {active.label}
          {current && active.id !== 'platform' ? ` of ${current}` : ''}
        </h1>
        {current === undefined ? (
          <p role="alert">
            Your account belongs to no tenant. Ask a tenant admin to add you to a tenant group.
          </p>
        ) : (
          <active.View
            key={`${active.id}/${current}`}
            config={config}
            api={api}
            tenant={current}
            mayWrite={mayWrite}
          />
        )}
      </main>
    </>
  );
}

/** Moves the focus to the main region without changing the view's hash. */
function skipToMain(e: Event): void {
  e.preventDefault();
  document.getElementById('main')?.focus();
}
