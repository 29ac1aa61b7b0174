/**
 * A ready-made tenant for tests, the demo and the CLI: one account, a site with RemoteOps and one without,
 * Windows/Linux/macOS agents (online, offline, decommissioned), a fully-permitted service user, a
 * least-privilege user, a built-in library script and two threats.
 */
import type { UserWithToken } from './model';
import { ALL_PERMISSIONS, type Permission } from './permissions';
import type { S1Simulator } from './server';
import type { Account, Agent, Script, Site, Threat } from './types';

/** Options of {@link seedDemoTenant}. */
export interface DemoTenantOptions {
  /** Token of the fully-permitted service user (default: a seeded random token). */
  token?: string;
  /** Scope of the service user (default `account`, covering both sites). */
  serviceUserScope?: 'tenant' | 'account';
  /** Permissions of the service user (default: all). */
  permissions?: Iterable<Permission>;
}

/** Handles to everything {@link seedDemoTenant} created. */
export interface DemoTenant {
  account: Account;
  sites: {
    /** "Production": licensed for Remote Script Orchestration. */
    rso: Site;
    /** "Branch Office": no `rso` licence module. */
    noRso: Site;
  };
  agents: {
    /** Online Windows server in the RSO site. */
    windows: Agent;
    /** Online Linux server in the RSO site. */
    linux: Agent;
    /** Online macOS laptop in the RSO site. */
    macos: Agent;
    /** Offline Windows desktop in the RSO site (its tasks expire). */
    offline: Agent;
    /** Decommissioned Linux server in the RSO site (never targeted). */
    decommissioned: Agent;
    /** Online Windows server in the site without RSO. */
    noRso: Agent;
  };
  /** Service user with every permission (account scope by default). */
  serviceUser: UserWithToken;
  /**
   * Site-scoped user (RSO site) that may list and read scripts and poll tasks but not run, upload, read
   * output, or view roles — for 403 paths.
   */
  limitedUser: UserWithToken;
  /** Built-in library script (Linux/macOS process list). */
  builtinScript: Script;
  threats: {
    /** Malicious threat on the Windows agent. */
    windows: Threat;
    /** Suspicious threat on the Linux agent. */
    linux: Threat;
  };
}

/** Populates the simulator with the demo tenant. Times are taken from the simulator's clock. */
export function seedDemoTenant(sim: S1Simulator, options: DemoTenantOptions = {}): DemoTenant {
  const account = sim.addAccount({ name: 'Acme Corp' });
  const rso = sim.addSite({ accountId: account.id, name: 'Production', sku: 'Complete', rso: true });
  const noRso = sim.addSite({ accountId: account.id, name: 'Branch Office', sku: 'Control', rso: false });
  const agents = {
    windows: sim.addAgent({ siteId: rso.id, osType: 'windows', computerName: 'ACME-DC01' }),
    linux: sim.addAgent({ siteId: rso.id, osType: 'linux', computerName: 'acme-web-01' }),
    macos: sim.addAgent({
      siteId: rso.id,
      osType: 'macos',
      computerName: 'acme-mbp-042',
      machineType: 'laptop',
    }),
    offline: sim.addAgent({
      siteId: rso.id,
      osType: 'windows',
      computerName: 'ACME-WS-117',
      machineType: 'desktop',
      isActive: false,
    }),
    decommissioned: sim.addAgent({
      siteId: rso.id,
      osType: 'linux',
      computerName: 'acme-old-db',
      isActive: false,
      isDecommissioned: true,
    }),
    noRso: sim.addAgent({ siteId: noRso.id, osType: 'windows', computerName: 'BRANCH-FS01' }),
  };
  const scope = options.serviceUserScope ?? 'account';
  const serviceUser = sim.addUser({
    fullName: 's1cado-service',
    scope,
    scopeId: scope === 'account' ? account.id : null,
    permissions: options.permissions ?? ALL_PERMISSIONS,
    token: options.token,
  });
  const limitedUser = sim.addUser({
    fullName: 'soc-viewer',
    scope: 'site',
    scopeId: rso.id,
    permissions: [
      'Remote Script Orchestration.view',
      'Task Management.view',
      'Endpoints.view',
      'Threats.view',
      'Sites.view',
    ],
  });
  const builtinScript = sim.addScript({
    scriptName: 'Process List',
    scriptType: 'dataCollection',
    osTypes: ['linux', 'macos'],
    content: '#!/bin/bash\nps -eo pid,ppid,user,lstart,args > "$S1_OUTPUT_DIR_PATH/processes.txt"\n',
    fileName: 'process_list.sh',
    scriptDescription: 'Lists running processes',
    scriptRuntimeTimeoutSeconds: 600,
  });
  const at = sim.clock();
  const threats = {
    windows: sim.addThreat({ agentId: agents.windows.id, createdAt: at - 10 * 60_000 }),
    linux: sim.addThreat({
      agentId: agents.linux.id,
      threatName: 'xmrig',
      classification: 'Cryptominer',
      confidenceLevel: 'suspicious',
      createdAt: at - 5 * 60_000,
    }),
  };
  return { account, sites: { rso, noRso }, agents, serviceUser, limitedUser, builtinScript, threats };
}
