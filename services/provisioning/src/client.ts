/**
 * A client of the provisioning API (for `npm run provision`, the scenarios and the benchmark).
 */
import type { BulkResult } from './provisioner.js';
import type { ApiClientOptions, ApiResponse } from '../../../platform/api-client.js';
import { ApiClient, ApiError } from '../../../platform/api-client.js';

export { ApiError };
export type { ApiResponse };

/** Options of {@link ProvisioningClient}. */
export type ProvisioningClientOptions = Omit<ApiClientOptions, 'service'>;

/** Calls the provisioning API for one tenant. */
export class ProvisioningClient extends ApiClient {
  constructor(opts: ProvisioningClientOptions) {
    super({ ...opts, service: 'the provisioning service' });
  }

  /** Bulk upsert (or a dry run of it). */
  async upsertDevices(
    servicePath: string,
    devices: readonly unknown[],
    dryRun = false,
  ): Promise<BulkResult> {
    const res = await this.call<BulkResult>('POST', '/v1/devices/bulk', {
      servicePath,
      body: { devices },
      query: { dry_run: String(dryRun) },
    });
    return res.body;
  }

  /** Every device id of a service path. */
  async deviceIds(servicePath: string): Promise<string[]> {
    const ids: string[] = [];
    for (let offset = 0; ; offset += 1000) {
      const res = await this.call<{ count: number; devices: { device_id: string }[] }>(
        'GET',
        '/v1/devices',
        {
          servicePath,
          query: { limit: '1000', offset: String(offset) },
        },
      );
      ids.push(...res.body.devices.map((d) => d.device_id));
      if (ids.length >= res.body.count || res.body.devices.length === 0) return ids;
    }
  }
}
