import { ValidationError } from '../errors.js';
import type { SourceConnector } from '../connectors/contract.js';
import { platformOf } from '../connectors/registry.js';
import type { Policy } from '../reconcile/policy.js';
import type { Store } from '../store/store.js';
import { executeRun, type RunProgress, type RunReport } from './run-service.js';

export interface EnrichOptions {
  dryRun?: boolean;
  onProgress?: (progress: RunProgress) => void;
  batchSize?: number;
}

/**
 * A file fills the fields a connection's API cannot see (mobile, email, gender, address, telephone, attributes) for
 * the users already linked to the connection, matched by account: a run of kind "enrich" whose source is the
 * connection's name, planned by `planEnrichment`, guarded, applied and recorded as every run is. The fields a
 * platform withholds are unseen by its syncs, so a later sync keeps what the file set; a field the API does see is
 * the API's again at the next sync.
 */
export async function enrichConnection(
  store: Store,
  connection: { name: string; platform: string; policy: Policy },
  connector: SourceConnector,
  options: EnrichOptions = {},
): Promise<RunReport> {
  const platform = platformOf(connection.platform);
  if (platform?.userLinks !== 'account') {
    throw new ValidationError(`connection "${connection.name}"`, [
      {
        path: 'connection',
        object: `connection "${connection.name}"`,
        field: 'platform',
        message: platform
          ? `enrichment matches a file's accounts to the users linked to the connection, but ${platform.names.en} links users by an id no export lists`
          : `"${connection.platform}" is not a platform this orgsync knows`,
        hint: 'Import the file as its own source instead (`orgsync import FILE --source NAME`).',
      },
    ]);
  }
  return executeRun(store, {
    kind: 'enrich',
    source: connection.name,
    connector,
    policy: connection.policy,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
  });
}
