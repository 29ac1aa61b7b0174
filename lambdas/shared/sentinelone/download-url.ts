/**
 * Checks a result download link before anyone fetches it. The link is a presigned cloud-storage URL whose query
 * string is the credential: it is fetched without any Authorization header, and only ever shown through `safeUrl`.
 */
import { assertAllowedUrl, DEFAULT_DOWNLOAD_HOSTS, type HostPolicy } from '../hosts';

/** Where result downloads may come from; omitted fields take the defaults. */
export interface DownloadHostPolicy {
  /** @default DEFAULT_DOWNLOAD_HOSTS (S1's result bucket host, `{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com`) */
  readonly allowedHosts?: readonly string[];
  /** Accept loopback hosts over http (local runs only). @default false */
  readonly allowLoopback?: boolean;
}

/** Fills in the defaults of a {@link DownloadHostPolicy}. */
export function downloadHostPolicy(policy: DownloadHostPolicy = {}): HostPolicy {
  return {
    allowedHosts: policy.allowedHosts ?? DEFAULT_DOWNLOAD_HOSTS,
    allowLoopback: policy.allowLoopback ?? false,
  };
}

/**
 * Throws `HostNotAllowedError` unless `url` is https on an allowlisted storage host (or loopback when the policy
 * allows it). The error message names the host, never the query string.
 */
export function assertDownloadUrl(url: string, policy: DownloadHostPolicy = {}): URL {
  return assertAllowedUrl(url, downloadHostPolicy(policy), 'S1 result download URL');
}
