import { startProvisioningStack, ANCHOR } from '../services/test-support/provisioning-stack.js';
const stack = await startProvisioningStack();
try {
  const fp = { servicePath: '/floor1' };
  const dev = { entity_name: 'urn:ngsi:bot:9', entity_type: 'Bot', attributes: [{ object_id: 'f', name: 'foo', type: 'Integer' }] };
  // 1. group with a command: device without commands
  let r = await stack.call('PUT', '/v1/groups', { ...fp, body: { apikey: 'grpkey123', entity_type: 'Bot', commands: [{ name: 'reboot' }] } });
  console.log('group', r.status, r.body.status);
  r = await stack.call('PUT', '/v1/devices/d1', { ...fp, body: dev });
  console.log('d1 first', r.status, r.body.status, JSON.stringify(r.body.device?.commands));
  r = await stack.call('PUT', '/v1/devices/d1', { ...fp, body: dev });
  console.log('d1 rerun', r.status, r.body.status);
  r = await stack.call('PUT', '/v1/devices/d1', { ...fp, body: dev });
  console.log('d1 rerun2', r.status, r.body.status);
  // 2. measurement fills apikey
  r = await stack.call('PUT', '/v1/devices/d2', { ...fp, body: dev });
  console.log('d2 first', r.status, r.body.status);
  const lib: any = stack.iota!.lib;
  await new Promise<void>((res, rej) => lib.retrieveDevice('d2', 'grpkey123', (e: any, d: any) => { console.log('retrieve', e?.name, d?.apikey); res(); }));
  r = await stack.call('GET', '/v1/devices/d2', fp);
  console.log('d2 stored apikey', r.body.apikey);
  r = await stack.call('PUT', '/v1/devices/d2', { ...fp, body: dev });
  console.log('d2 rerun', r.status, r.body.status);
  // 3. 409 race: concurrent PUTs of the same new device
  const [a, b] = await Promise.all([
    stack.call('PUT', '/v1/devices/race', { ...fp, body: { ...dev, entity_name: 'urn:race' } }),
    stack.call('PUT', '/v1/devices/race', { ...fp, body: { ...dev, entity_name: 'urn:race' } }),
  ]);
  console.log('race', a.status, a.body.status ?? a.body.detail, '|', b.status, b.body.status ?? b.body.detail);
  r = await stack.call('GET', '/v1/devices/race', fp);
  console.log('race after', r.status);
} finally {
  await stack.close();
}
