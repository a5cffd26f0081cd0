import { DeviceSpec } from '../services/provisioning/src/model.js';
for (const depth of [1000, 5000, 20000, 500000]) {
  const text = '{"device_id":"a","entity_name":"e","entity_type":"T","static_attributes":[{"name":"x","type":"T","value":' + '['.repeat(depth) + ']'.repeat(depth) + '}]}';
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { console.log(depth, 'JSON.parse', (e as Error).message); continue; }
  try { const r = DeviceSpec.safeParse(v); console.log(depth, 'bytes', text.length, 'zod ok', r.success); }
  catch (e) { console.log(depth, 'zod threw', (e as Error).constructor.name, (e as Error).message.slice(0, 60)); }
}
for (const u of ['http://127.0.0.1:15000/quitquitquit', 'http://[::1]:15020/quitquitquit', 'http://169.254.169.254/latest/meta-data', 'http://orion.fiware.svc.cluster.local:1026/v2/entities', 'http://localhost:4041/iot/devices', 'http://0/']) {
  const r = DeviceSpec.safeParse({ device_id: 'a', entity_name: 'e', entity_type: 'T', endpoint: u });
  console.log(u, r.success);
}
