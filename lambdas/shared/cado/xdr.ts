/**
 * Cado's "import from XDR" (collection mode `cado-xdr`): Cado collects from the endpoint through its own SentinelOne
 * integration instead of our collector. Where each fact comes from (nothing was checked against a live platform):
 *
 * - [spec] `cado-security/api-reference` `cado-api.json` 2.324.0:
 *   - `POST /api/v3/import/xdr` body `{account_name, investigation_id (integer), device_id (string), host_options}`,
 *     all four required; 200 `{status, data: {pipeline_id}}` ("a processing pipeline will be returned"); roles
 *     Administrator, Lead Analyst, Analyst. Note `investigation_id`, not the `project_id` the S3 import takes.
 *   - `host_options`: `collection_type` `balanced` (default) | `custom`, `light_mode` (files < 10 MB), `skip_scan`,
 *     `skip_ssl_verification`, `additional_files_only` (custom only), `groups[]` (custom only), `additional_files[]`.
 *   - `GET /api/v3/import/xdr/sentinelone?account_name=&per_page=&cursor=&hostname=&os=` (per_page required) →
 *     `data[]{device_id, hostname, ip_address, operating_system, is_online, tags?}`, cursor pagination.
 *   - `GET /api/v3/accounts?type=sentinelone` → `data[]{id, account_name, type, public_identifier?, account_check_id}`;
 *     `POST /api/v3/accounts` takes S1 credentials as `credential_data: {endpoint, token}`.
 * - [docs] `cado-security/product-help` `docs/cado/integrations/xdr/sentinelone.md`, `discovery-import/xdr.md`: the
 *   UI flow (Import → XDR → SentinelOne, Balanced or Custom, 10 MB limit), RemoteOps on every site, a Global-scope S1
 *   service user, Windows and Linux only.
 * - The Cortex XSOAR CadoResponse integration (`demisto/content`) targets `/api/v2` and has no XDR command: it
 *   tells nothing about this route.
 *
 * UNCERTAIN (and how this code copes):
 * - Which S1 console an account uses: the spec lists no `endpoint` on accounts. `public_identifier` ("the public
 *   identifier for the account") is read as the console URL when it is one; otherwise the audit says it cannot
 *   compare (see `xdrAccountCheck`).
 * - How the evidence of an XDR import is named (the docs give `cado-host-capture-<epoch>.tar.lz4` for Cado Host
 *   uploads). Reconciling an import whose answer was lost matches pipelines naming the device's hostname or id;
 *   when none does, the outcome is reported unknown rather than the import being sent again.
 * - Whether the returned pipeline triggers child pipelines: followed like an S3 import's (both shapes handled).
 * - Whether `balanced` includes memory: `host_options` has no memory switch, so the `memory` profile is refused.
 */
import { InputValidationError } from '../errors';

export { COLLECTION_MODES, type CollectionMode, DEFAULT_COLLECTION_MODE } from '../contract';

/** The collection profiles (the same four names the collector profiles use); `triage` is the default. */
export const XDR_PROFILES = ['triage', 'full', 'memory', 'custom'] as const;
export type XdrProfile = (typeof XDR_PROFILES)[number];
export const DEFAULT_XDR_PROFILE: XdrProfile = 'triage';

/** `host_options` of `POST /api/v3/import/xdr` [spec]. */
export interface XdrHostOptions {
  readonly collection_type: 'balanced' | 'custom';
  readonly light_mode: boolean;
  readonly skip_scan: boolean;
  /** Never set: TLS verification stays on (the spec calls turning it off "not safe"). */
  readonly skip_ssl_verification: false;
  readonly additional_files_only?: boolean;
  readonly groups?: readonly string[];
  readonly additional_files?: readonly string[];
}

/**
 * The Cado host options for a profile. `triage`: balanced, light mode (files < 10 MB), no signature scan — the
 * quickest; `full`: balanced with large files and the scan; `custom`: only the configured files; `memory`: refused
 * (Cado's XDR import has no memory option in its API).
 */
export function xdrHostOptions(profile: XdrProfile, customFiles: readonly string[] = []): XdrHostOptions {
  switch (profile) {
    case 'triage':
      return { collection_type: 'balanced', light_mode: true, skip_scan: true, skip_ssl_verification: false };
    case 'full':
      return {
        collection_type: 'balanced',
        light_mode: false,
        skip_scan: false,
        skip_ssl_verification: false,
      };
    case 'custom':
      if (customFiles.length === 0) {
        throw new InputValidationError(
          'Profile "custom" in collection mode cado-xdr needs the files to collect: set s1cado.cadoXdrCustomFiles',
        );
      }
      return {
        collection_type: 'custom',
        light_mode: false,
        skip_scan: true,
        skip_ssl_verification: false,
        additional_files_only: true,
        additional_files: [...customFiles],
      };
    case 'memory':
      throw new InputValidationError(
        'Profile "memory" is not available in collection mode cado-xdr: Cado\'s XDR import has no memory option; ' +
          'use collection mode s1-remoteops for a memory collection',
      );
    default:
      throw new InputValidationError(`Unknown collection profile "${String(profile)}"`);
  }
}

/** An XDR account Cado holds (`GET /api/v3/accounts`). */
export interface CadoXdrAccount {
  readonly name: string;
  /** `sentinelone`, `crowdstrike`, … as sent. */
  readonly type: string;
  /** `public_identifier`, when sent (for SentinelOne, possibly the console URL: UNCERTAIN). */
  readonly publicIdentifier: string | undefined;
}

/** A device Cado can see through an XDR account (`GET /api/v3/import/xdr/sentinelone`). */
export interface CadoXdrDevice {
  readonly deviceId: string;
  readonly hostname: string;
  readonly operatingSystem: string;
  readonly isOnline: boolean;
}

/** Input of `CadoClient.importXdr`. */
export interface ImportXdrInput {
  readonly projectId: number;
  readonly accountName: string;
  /** The S1 agent id (Cado's `device_id` for SentinelOne: UNCERTAIN whether id or uuid; the browse call decides). */
  readonly deviceId: string;
  readonly hostOptions: XdrHostOptions;
}

/** Whether `url` names the same S1 console as `ours` (scheme, host and port; paths and `/web/api/v2.1` ignored). */
export function sameConsole(url: string, ours: string): boolean {
  try {
    const a = new URL(url);
    const b = new URL(ours);
    return a.protocol === b.protocol && a.host.toLowerCase() === b.host.toLowerCase();
  } catch {
    return false;
  }
}
