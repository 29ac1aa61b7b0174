/**
 * Public API of the SentinelOne Management API simulator (test and local use only).
 *
 * ```ts
 * const sim = await startS1Simulator({ clock: manual.now });
 * const tenant = seedDemoTenant(sim);
 * // point an S1 client at sim.url with tenant.serviceUser.token ...
 * await sim.close();
 * ```
 */
export type { RouteContext, SimConfig } from './context';
export type { FaultAction, FaultHandle, FaultMatch, FaultRule, SimHost } from './faults';
export { FaultController } from './faults';
export { createManualClock, type ManualClock } from './manual-clock';
export type {
  AccountInput,
  AgentInput,
  RoleInput,
  ScriptInput,
  ScriptSignatureShape,
  SiteInput,
  ThreatInput,
  UserInput,
  UserWithToken,
} from './model';
export { SimState, SimulatorInputError, scriptSignature } from './model';
export {
  ALL_PERMISSIONS,
  cancelPermission,
  isPermission,
  PERMISSION_PAGES,
  type Permission,
  RSO_PAGE,
  runPermission,
  WORKFLOW_PERMISSIONS,
} from './permissions';
export { DEFAULT_RATE_LIMITS, type RateLimitRule, type RateLimitStat } from './rate-limit';
export type { LoggedMultipart, RequestLogEntry } from './request-log';
export { GENERATED_ENTRY_NAME, type PreparedResult } from './result-file';
export { type DemoTenant, type DemoTenantOptions, seedDemoTenant } from './seed';
export {
  API_PREFIX,
  type RateLimitReport,
  S1Simulator,
  type S1SimulatorOptions,
  startS1Simulator,
} from './server';
export { DEFAULT_TASK_TIMING, DETAILED_STATUS, type TaskTiming, type TaskView } from './tasks';
export type {
  Account,
  Agent,
  AgentBehavior,
  AgentProfile,
  ApiTokenRecord,
  ChildTask,
  ExecutionRecord,
  Guardrail,
  OsType,
  ParentTask,
  PendingExecution,
  ResultSpec,
  Role,
  Script,
  ScriptType,
  Site,
  TaskStatus,
  Threat,
  ThreatNote,
  User,
  UserScope,
  ZipEntryInput,
} from './types';
