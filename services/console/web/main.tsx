/**
 * The console's entry point: reads its configuration from the server, finishes a sign-in when
 * the page is Keycloak's answer, and renders the app.
 */
import { render } from 'preact';

import { CONFIG_FILE } from '../src/contract.js';
import type { ConsoleConfig } from '../src/contract.js';
import { Api } from './api.js';
import { App } from './app.js';
import { Auth } from './auth.js';
import './style.css';

async function main(): Promise<void> {
  const root = document.getElementById('app')!;
  let config: ConsoleConfig;
  try {
    const res = await fetch(`${location.pathname.replace(/\/[^/]*$/, '')}/${CONFIG_FILE}`);
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    config = (await res.json()) as ConsoleConfig;
  } catch (err) {
    root.textContent = `The console cannot read its configuration (${(err as Error).message}).`;
    return;
  }
  const auth = new Auth(config);
  let problem: string | undefined;
  try {
    await auth.complete();
  } catch (err) {
    problem = `The sign-in did not complete: ${(err as Error).message}`;
  }
  root.textContent = '';
  render(<App config={config} auth={auth} api={new Api(config, auth)} problem={problem} />, root);
}

void main();
