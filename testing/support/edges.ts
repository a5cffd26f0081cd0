/**
 * Test support: which workload must talk to which, derived from the synthesized
 * configuration rather than restated; and which connections the AuthorizationPolicies allow.
 */
import { COMPONENTS, QUANTUMLEAP_NOTIFY_PATH } from '../../platform/components.js';
import type { KubeObject, SynthOutput } from '../../cdk8s/lib/synth.js';
import { podSpecOf } from '../../cdk8s/lib/validate/rules.js';

/** `caller -> target`, service account to service name. */
export type Edge = `${string} -> ${string}`;

const HOST = /([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local/g;

function workloads(out: SynthOutput): KubeObject[] {
  return out.objects.map((o) => o.object).filter((o) => podSpecOf(o) && o.kind !== 'Job');
}

/** The pod template's labels of a workload (a CronJob's are in its job template). */
function podLabels(w: KubeObject): Record<string, string> {
  const spec = w.spec as any;
  return (w.kind === 'CronJob' ? spec.jobTemplate.spec.template : spec.template).metadata.labels;
}

/**
 * Env vars holding a URL a workload hands to another instead of calling it, by the env var
 * naming the one that calls it: the provisioning service puts QuantumLeap's notify URL into
 * the subscriptions it creates on the broker of its ORION_URL, and that broker notifies.
 */
const HANDED_ON: Readonly<Record<string, string>> = { QUANTUMLEAP_NOTIFY_URL: 'ORION_URL' };

/** Hosts of platform Services named in a text, as service names. */
function servicesIn(text: string, known: ReadonlySet<string>): string[] {
  return [...text.matchAll(HOST)].map((m) => m[1]!).filter((s) => known.has(s));
}

/**
 * Every connection the configuration implies:
 * - a workload whose env, args or mounted ConfigMaps name another platform Service calls it;
 * - an IoT Agent's IOTA_PROVIDER_URL makes its context broker call it back (commands);
 * - a URL a workload hands on (HANDED_ON) is called by the workload it is handed to;
 * - Orion notifies QuantumLeap (subscriptions to its notify path);
 * - a RequestAuthentication's jwksUri is fetched by the sidecars it selects;
 * - the gateway calls every VirtualService destination and the ext_authz provider;
 * - Alertmanager (the prometheus chart's) calls the webhook receivers of its generated config,
 *   as the registry's service account of it.
 */
export function requiredEdges(out: SynthOutput): Set<Edge> {
  const objects = out.objects.map((o) => o.object);
  const services = new Set(
    objects
      .filter((o) => o.kind === 'Service' && !o.metadata.name.endsWith('-headless'))
      .map((o) => o.metadata.name),
  );
  const configMaps = new Map(
    objects
      .filter((o) => o.kind === 'ConfigMap')
      .map((o) => [o.metadata.name, JSON.stringify(o.data)]),
  );
  const edges = new Set<Edge>();
  for (const w of workloads(out)) {
    const pod: any = podSpecOf(w);
    const sa: string = pod.serviceAccountName;
    const texts = [
      ...pod.containers.flatMap((c: any) => [
        ...(c.env ?? []).filter((e: any) => !(e.name in HANDED_ON)).map((e: any) => e.value ?? ''),
        ...(c.args ?? []),
      ]),
      ...(pod.volumes ?? [])
        .filter((v: any) => v.configMap)
        .map((v: any) => configMaps.get(v.configMap.name) ?? ''),
    ];
    for (const t of texts)
      for (const s of servicesIn(String(t), services))
        if (s !== w.metadata.name) edges.add(`${sa} -> ${s}`);
    for (const c of pod.containers) {
      const env = new Map<string, string>((c.env ?? []).map((e: any) => [e.name, e.value]));
      const provider = env.get('IOTA_PROVIDER_URL');
      const broker = env.get('IOTA_CB_HOST');
      if (provider && broker) {
        for (const b of servicesIn(broker, services))
          for (const p of servicesIn(provider, services)) edges.add(`${b} -> ${p}`);
      }
      for (const [handed, by] of Object.entries(HANDED_ON)) {
        const url = env.get(handed);
        const caller = env.get(by);
        if (!url || !caller) continue;
        for (const from of servicesIn(caller, services))
          for (const to of servicesIn(url, services)) edges.add(`${from} -> ${to}`);
      }
    }
  }
  if (services.has('orion') && services.has('quantumleap') && QUANTUMLEAP_NOTIFY_PATH)
    edges.add('orion -> quantumleap');
  for (const ra of objects.filter((o) => o.kind === 'RequestAuthentication')) {
    const spec: any = ra.spec;
    const selector: Record<string, string> = spec.selector.matchLabels;
    const jwks = spec.jwtRules.flatMap((r: any) => servicesIn(r.jwksUri, services));
    for (const w of workloads(out)) {
      const labels = podLabels(w);
      if (w.metadata.namespace !== ra.metadata.namespace) continue;
      if (Object.entries(selector).every(([k, v]) => labels[k] === v)) {
        for (const s of jwks) edges.add(`${(podSpecOf(w) as any).serviceAccountName} -> ${s}`);
      }
    }
  }
  for (const vs of objects.filter((o) => o.kind === 'VirtualService')) {
    for (const r of (vs.spec as any).http) {
      for (const d of r.route)
        for (const s of servicesIn(d.destination.host, services))
          edges.add(`istio-ingressgateway -> ${s}`);
    }
  }
  const prometheus: any = objects.find(
    (o) => o.kind === 'Application' && o.metadata.name === 'prometheus',
  );
  const alertmanager = prometheus?.spec.source.helm.valuesObject.alertmanager;
  if (alertmanager?.enabled) {
    for (const r of alertmanager.config?.receivers ?? [])
      for (const w of r.webhook_configs ?? [])
        for (const s of servicesIn(w.url, services))
          edges.add(`${COMPONENTS.alertmanager.serviceAccount} -> ${s}`);
  }
  const istiod: any = objects.find((o) => o.kind === 'Application' && o.metadata.name === 'istiod');
  for (const p of istiod.spec.source.helm.valuesObject.meshConfig.extensionProviders) {
    if (p.envoyExtAuthzGrpc)
      for (const s of servicesIn(p.envoyExtAuthzGrpc.service, services))
        edges.add(`istio-ingressgateway -> ${s}`);
  }
  return edges;
}

/** Every connection an ALLOW AuthorizationPolicy permits, at service-account granularity. */
export function allowedEdges(out: SynthOutput): Set<Edge> {
  const edges = new Set<Edge>();
  for (const { object: p } of out.objects) {
    if (p.kind !== 'AuthorizationPolicy' || (p.spec as any).action !== 'ALLOW') continue;
    const app = (p.spec as any).selector?.matchLabels?.app;
    for (const rule of (p.spec as any).rules ?? []) {
      for (const from of rule.from ?? []) {
        for (const principal of from.source.principals ?? [])
          edges.add(`${principal.split('/sa/')[1]} -> ${app}`);
      }
    }
  }
  return edges;
}
