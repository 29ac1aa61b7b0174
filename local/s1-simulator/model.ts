/**
 * The simulator's state: typed maps of every record, plus helpers that create consistent records (ids from
 * the seeded generator, defaults that look like a real console). Tests reach it as `sim.state` and may
 * mutate records directly.
 */
import { createHash } from 'node:crypto';
import { ALL_PERMISSIONS, type Permission } from './permissions';
import { IdGenerator, newToken, SeededRandom } from './random';
import type {
  Account,
  Agent,
  AgentBehavior,
  ApiTokenRecord,
  ChildTask,
  ExecutionRecord,
  Guardrail,
  OsType,
  ParentTask,
  PendingExecution,
  Role,
  Script,
  ScriptType,
  Site,
  Threat,
  ThreatNote,
  User,
  UserScope,
} from './types';

const DAY_MS = 86_400_000;

/** Input of {@link SimState.addAccount}. */
export interface AccountInput {
  name?: string;
}

/** Input of {@link SimState.addSite}. */
export interface SiteInput {
  accountId: string;
  name?: string;
  /** Whether the site is licensed for Remote Script Orchestration (default true). */
  rso?: boolean;
  /** Whether `/sites` shows the site's `licenses` block (default true; some recorded answers have none). */
  licenceData?: boolean;
  sku?: string;
  state?: Site['state'];
  guardrail?: Partial<Guardrail>;
  totalLicenses?: number;
}

/** Input of {@link SimState.addAgent}. */
export interface AgentInput {
  siteId: string;
  osType?: OsType;
  computerName?: string;
  /** Default true. An inactive agent is also `disconnected` unless `networkStatus` says otherwise. */
  isActive?: boolean;
  networkStatus?: Agent['networkStatus'];
  isDecommissioned?: boolean;
  machineType?: Agent['machineType'];
  agentVersion?: string;
  osRevision?: string;
  behavior?: AgentBehavior;
}

/** Input of {@link SimState.addThreat}. */
export interface ThreatInput {
  agentId: string;
  threatName?: string;
  classification?: string;
  classificationSource?: string;
  confidenceLevel?: Threat['confidenceLevel'];
  analystVerdict?: string;
  incidentStatus?: string;
  mitigationStatus?: string;
  filePath?: string;
  sha1?: string;
  /** Creation time (`threatInfo.createdAt`); default: now. */
  createdAt?: number;
  /** Default: `createdAt`. */
  updatedAt?: number;
}

/** Input of {@link SimState.addScript}. */
export interface ScriptInput {
  scriptName: string;
  scriptType?: ScriptType;
  osTypes: OsType[];
  content: string | Buffer;
  fileName?: string;
  scriptDescription?: string | null;
  inputRequired?: boolean;
  inputExample?: string | null;
  inputInstructions?: string | null;
  scriptRuntimeTimeoutSeconds?: number;
  scopeLevel?: Script['scopeLevel'];
  scopeId?: string | null;
  /** Default "SentinelOne" with creatorId "-1" (a built-in library script). */
  creator?: string;
  creatorId?: string;
  /**
   * How the library reports the script's `signature`: `hex` (default, the SHA-256 of `content`), `base64` (the same
   * hash in base64 with `signatureType` "SHA-256", as S1's built-in scripts carry it), `sha1` (40 hex: the SHA-1 of
   * the content), `empty` (""), `null`, or a literal value.
   */
  signature?: ScriptSignatureShape | { literal: string | null };
}

/** How a planted script's `signature` looks (see {@link ScriptInput.signature}). */
export type ScriptSignatureShape = 'hex' | 'base64' | 'sha1' | 'empty' | 'null';

/** The `signature` and `signatureType` the library reports for `content` in the given shape. */
export function scriptSignature(
  content: Buffer,
  shape: ScriptInput['signature'] = 'hex',
): { signature: string | null; signatureType: string } {
  if (typeof shape === 'object') return { signature: shape.literal, signatureType: 'SHA256' };
  const sha256 = createHash('sha256').update(content);
  switch (shape) {
    case 'base64':
      return { signature: sha256.digest('base64'), signatureType: 'SHA-256' };
    case 'sha1':
      return { signature: createHash('sha1').update(content).digest('hex'), signatureType: 'SHA256' };
    case 'empty':
      return { signature: '', signatureType: 'SHA256' };
    case 'null':
      return { signature: null, signatureType: 'SHA256' };
    default:
      return { signature: sha256.digest('hex'), signatureType: 'SHA256' };
  }
}

/** Input of {@link SimState.addRole}. */
export interface RoleInput {
  name: string;
  permissions: Iterable<Permission>;
  description?: string;
  scope?: UserScope;
  scopeId?: string | null;
  predefinedRole?: boolean;
}

/** Input of {@link SimState.addUser}. */
export interface UserInput {
  fullName: string;
  scope: UserScope;
  /** Account id for account scope, site id for site scope; ignored for tenant scope. */
  scopeId?: string | null;
  /** Use an existing role; otherwise a role is created from `permissions` (default: all permissions). */
  roleId?: string;
  permissions?: Iterable<Permission>;
  email?: string | null;
  isServiceUser?: boolean;
  /** Fixed token value (default: a random 80-character token). */
  token?: string;
  /** Token expiry (epoch ms); default now + 180 days. */
  tokenExpiresAt?: number;
}

/** What {@link SimState.addUser} returns. */
export interface UserWithToken {
  user: User;
  role: Role;
  /** The API token to send as `Authorization: ApiToken <token>`. */
  token: string;
  tokenRecord: ApiTokenRecord;
}

/** Thrown when a helper is given inconsistent input (unknown site, wrong scope id...). */
export class SimulatorInputError extends Error {
  override readonly name = 'SimulatorInputError';
}

const OS_DEFAULTS: Record<OsType, { osName: string; osRevision: string; prefix: string }> = {
  windows: { osName: 'Windows Server 2022', osRevision: '20348', prefix: 'WIN' },
  linux: { osName: 'Linux', osRevision: 'Ubuntu 22.04.4 LTS 5.15.0-105-generic', prefix: 'lnx' },
  macos: { osName: 'macOS', osRevision: '14.4.1 (23E224)', prefix: 'mac' },
};

/** Typed, mutable state of one simulator instance. */
export class SimState {
  readonly accounts = new Map<string, Account>();
  readonly sites = new Map<string, Site>();
  readonly agents = new Map<string, Agent>();
  readonly threats = new Map<string, Threat>();
  /** Notes per threat id, oldest first. */
  readonly notes = new Map<string, ThreatNote[]>();
  readonly scripts = new Map<string, Script>();
  readonly parentTasks = new Map<string, ParentTask>();
  readonly tasks = new Map<string, ChildTask>();
  readonly pendingExecutions = new Map<string, PendingExecution>();
  readonly roles = new Map<string, Role>();
  readonly users = new Map<string, User>();
  /** Token records by token value. */
  readonly tokens = new Map<string, ApiTokenRecord>();
  /** Every execute call, in order (see {@link ExecutionRecord}). */
  readonly executions: ExecutionRecord[] = [];

  /** The seeded generator behind ids, uuids and tokens. */
  readonly random: SeededRandom;
  private readonly ids: IdGenerator;

  constructor(
    seed: string | number,
    private readonly clock: () => number,
  ) {
    this.random = new SeededRandom(seed);
    this.ids = new IdGenerator(this.random);
  }

  /** A fresh 19-digit id. */
  newId(): string {
    return this.ids.next();
  }

  /** Creates an account. */
  addAccount(input: AccountInput = {}): Account {
    const account: Account = {
      id: this.newId(),
      name: input.name ?? `Account ${this.accounts.size + 1}`,
      createdAt: this.clock(),
    };
    this.accounts.set(account.id, account);
    return account;
  }

  /** Creates a site (with its default group) in an existing account. */
  addSite(input: SiteInput): Site {
    if (!this.accounts.has(input.accountId))
      throw new SimulatorInputError(`unknown account ${input.accountId}`);
    const site: Site = {
      id: this.newId(),
      name: input.name ?? `Site ${this.sites.size + 1}`,
      accountId: input.accountId,
      groupId: this.newId(),
      state: input.state ?? 'active',
      sku: input.sku ?? 'Complete',
      rso: input.rso ?? true,
      licenceData: input.licenceData ?? true,
      guardrail: { enabled: false, scriptTypes: [], endpointsQuantity: 1, ...input.guardrail },
      totalLicenses: input.totalLicenses ?? 100,
      createdAt: this.clock(),
    };
    this.sites.set(site.id, site);
    return site;
  }

  /** Creates an agent in an existing site. */
  addAgent(input: AgentInput): Agent {
    const site = this.requireSite(input.siteId);
    const osType = input.osType ?? 'windows';
    const defaults = OS_DEFAULTS[osType];
    const isActive = input.isActive ?? true;
    const agent: Agent = {
      id: this.newId(),
      uuid: this.random.hex(32),
      computerName:
        input.computerName ??
        `${defaults.prefix}-${this.random.string(6, 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789')}`,
      osType,
      osName: defaults.osName,
      osRevision: input.osRevision ?? defaults.osRevision,
      machineType: input.machineType ?? (osType === 'macos' ? 'laptop' : 'server'),
      isActive,
      isDecommissioned: input.isDecommissioned ?? false,
      isUninstalled: false,
      networkStatus: input.networkStatus ?? (isActive ? 'connected' : 'disconnected'),
      agentVersion: input.agentVersion ?? '24.1.4.257',
      siteId: site.id,
      accountId: site.accountId,
      groupId: site.groupId,
      externalIp: `203.0.113.${this.random.int(1, 254)}`,
      lastActiveDate: this.clock(),
      behavior: { ...input.behavior },
    };
    this.agents.set(agent.id, agent);
    return agent;
  }

  /** Creates a threat detected on an existing agent. */
  addThreat(input: ThreatInput): Threat {
    const agent = this.requireAgent(input.agentId);
    const createdAt = input.createdAt ?? this.clock();
    const threat: Threat = {
      id: this.newId(),
      agentId: agent.id,
      threatName: input.threatName ?? 'invoice_2024.exe',
      classification: input.classification ?? 'Malware',
      classificationSource: input.classificationSource ?? 'Static',
      confidenceLevel: input.confidenceLevel ?? 'malicious',
      analystVerdict: input.analystVerdict ?? 'undefined',
      incidentStatus: input.incidentStatus ?? 'unresolved',
      mitigationStatus: input.mitigationStatus ?? 'mitigated',
      detectionType: 'static',
      initiatedBy: 'agent_policy',
      filePath:
        input.filePath ??
        (agent.osType === 'windows'
          ? '\\Device\\HarddiskVolume3\\Users\\Public\\invoice_2024.exe'
          : '/tmp/.x/payload'),
      sha1: input.sha1 ?? this.random.hex(40),
      sha256: null,
      storyline: this.random.hex(16).toUpperCase(),
      processUser: agent.osType === 'windows' ? `${agent.computerName}\\Administrator` : 'root',
      createdAt,
      updatedAt: input.updatedAt ?? createdAt,
      detectionAgentVersion: agent.agentVersion,
    };
    this.threats.set(threat.id, threat);
    return threat;
  }

  /** Adds a script to the library (default: a built-in SentinelOne script at global scope). */
  addScript(input: ScriptInput): Script {
    const content = typeof input.content === 'string' ? Buffer.from(input.content) : input.content;
    const at = this.clock();
    const scopeLevel = input.scopeLevel ?? 'global';
    const script: Script = {
      id: this.newId(),
      scriptName: input.scriptName,
      scriptType: input.scriptType ?? 'dataCollection',
      scriptDescription: input.scriptDescription ?? null,
      osTypes: [...input.osTypes],
      inputRequired: input.inputRequired ?? false,
      inputExample: input.inputExample ?? null,
      inputInstructions: input.inputInstructions ?? null,
      scriptRuntimeTimeoutSeconds: input.scriptRuntimeTimeoutSeconds ?? 3600,
      scopeLevel,
      scopeId: scopeLevel === 'global' ? null : (input.scopeId ?? null),
      fileName: input.fileName ?? `${input.scriptName.replace(/[^A-Za-z0-9_.-]+/g, '_')}.sh`,
      content,
      ...scriptSignature(content, input.signature),
      creator: input.creator ?? 'SentinelOne',
      creatorId: input.creatorId ?? '-1',
      createdAt: at,
      updatedAt: at,
      version: '1',
    };
    this.scripts.set(script.id, script);
    return script;
  }

  /** Creates a role holding the given permissions. */
  addRole(input: RoleInput): Role {
    const role: Role = {
      id: this.newId(),
      name: input.name,
      description: input.description ?? '',
      scope: input.scope ?? 'tenant',
      scopeId: input.scopeId ?? null,
      predefinedRole: input.predefinedRole ?? false,
      permissions: new Set(input.permissions),
      createdAt: this.clock(),
    };
    this.roles.set(role.id, role);
    return role;
  }

  /** Creates a user (console or service user) with a role and an API token. */
  addUser(input: UserInput): UserWithToken {
    const scopeId = input.scope === 'tenant' ? null : (input.scopeId ?? null);
    if (input.scope === 'site' && (!scopeId || !this.sites.has(scopeId))) {
      throw new SimulatorInputError('a site-scoped user needs the id of an existing site as scopeId');
    }
    if (input.scope === 'account' && (!scopeId || !this.accounts.has(scopeId))) {
      throw new SimulatorInputError('an account-scoped user needs the id of an existing account as scopeId');
    }
    let role: Role;
    if (input.roleId) {
      const existing = this.roles.get(input.roleId);
      if (!existing) throw new SimulatorInputError(`unknown role ${input.roleId}`);
      role = existing;
    } else {
      role = this.addRole({
        name: `${input.fullName} role`,
        permissions: input.permissions ?? ALL_PERMISSIONS,
        scope: input.scope,
        scopeId,
      });
    }
    const user: User = {
      id: this.newId(),
      fullName: input.fullName,
      email: input.email ?? null,
      isServiceUser: input.isServiceUser ?? true,
      scope: input.scope,
      scopeId,
      roleId: role.id,
      createdAt: this.clock(),
    };
    this.users.set(user.id, user);
    const tokenRecord = this.addToken(user.id, { token: input.token, expiresAt: input.tokenExpiresAt });
    return { user, role, token: tokenRecord.token, tokenRecord };
  }

  /** Issues another API token for a user. */
  addToken(userId: string, options: { token?: string; expiresAt?: number } = {}): ApiTokenRecord {
    if (!this.users.has(userId)) throw new SimulatorInputError(`unknown user ${userId}`);
    const createdAt = this.clock();
    const token = options.token ?? newToken(this.random);
    if (this.tokens.has(token)) throw new SimulatorInputError('token value already in use');
    const record: ApiTokenRecord = {
      id: this.newId(),
      token,
      userId,
      createdAt,
      expiresAt: options.expiresAt ?? createdAt + 180 * DAY_MS,
      revoked: false,
    };
    this.tokens.set(token, record);
    return record;
  }

  /** The user's role (every user has exactly one in this model). */
  roleOf(user: User): Role {
    const role = this.roles.get(user.roleId);
    if (!role) throw new SimulatorInputError(`user ${user.id} has no role`);
    return role;
  }

  /** Whether the user may see records of the given site (scope check). */
  canSeeSite(user: User, siteId: string): boolean {
    if (user.scope === 'tenant') return true;
    if (user.scope === 'site') return user.scopeId === siteId;
    return this.sites.get(siteId)?.accountId === user.scopeId;
  }

  /** Whether the user may see a script (global, or in an account/site the user covers). */
  canSeeScript(user: User, script: Script): boolean {
    if (script.scopeLevel === 'global' || user.scope === 'tenant') return true;
    if (script.scopeLevel === 'site') return script.scopeId !== null && this.canSeeSite(user, script.scopeId);
    if (user.scope === 'account') return user.scopeId === script.scopeId;
    const site = user.scopeId ? this.sites.get(user.scopeId) : undefined;
    return site?.accountId === script.scopeId;
  }

  /** The site, or a {@link SimulatorInputError}. */
  requireSite(id: string): Site {
    const site = this.sites.get(id);
    if (!site) throw new SimulatorInputError(`unknown site ${id}`);
    return site;
  }

  /** The agent, or a {@link SimulatorInputError}. */
  requireAgent(id: string): Agent {
    const agent = this.agents.get(id);
    if (!agent) throw new SimulatorInputError(`unknown agent ${id}`);
    return agent;
  }
}
