import { startProvisioningStack } from '../services/test-support/provisioning-stack.js';
const stack = await startProvisioningStack();
try {
  const fp = { servicePath: '/floor1' };
  let r = await stack.call('PUT', '/v1/groups', { ...fp, body: { apikey: 'grpkey123', entity_type: 'Bot', timezone: 'Europe/Zurich', commands: [{ name: 'reboot' }] } });
  console.log('create', r.status, r.body.status);
  for (let i = 0; i < 2; i++) {
    r = await stack.call('PUT', '/v1/groups', { ...fp, body: { apikey: 'grpkey123', entity_type: 'Bot' } });
    console.log('drop tz+cmds', r.status, r.body.status);
  }
  r = await stack.call('GET', '/v1/groups', fp);
  console.log(JSON.stringify(r.body.groups[0]));
  // other tenant same key → oracle?
  const tok = await stack.token({ claims: { tenants: ['smithereens'] } });
  r = await stack.call('PUT', '/v1/groups', { service: 'smithereens', servicePath: '/', token: tok, body: { apikey: 'grpkey123', entity_type: 'Bot' } });
  console.log('other tenant same key', r.status, r.body.code, r.body.detail);
  // delete_entity by operator on a foreign entity
  stack.orion; 
} finally { await stack.close(); }
