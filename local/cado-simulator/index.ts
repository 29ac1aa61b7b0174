/**
 * Public API of the Cado platform simulator (test and local-run use only).
 *
 * @example
 * ```ts
 * let t = Date.UTC(2025, 0, 1);
 * const sim = await startCadoSimulator({ clock: () => t, keys: [{ key: 'k', role: 'Lead Analyst' }] });
 * // POST ${sim.apiUrl}/projects, POST ${sim.apiUrl}/import/aws/s3, then move `t` on and poll the pipeline.
 * await sim.close();
 * ```
 */
export {
  type CadoBehaviour,
  type CadoBehaviourOptions,
  compareVersions,
  DEFAULT_PLATFORM_VERSION,
  type FileNameMode,
  type ImportContext,
  type ImportOutcomes,
  type PipelineTiming,
  type SystemHealth,
} from './behaviour';
export type { DownMode, FaultController, FaultHandle, FaultRequest, FaultRule } from './faults';
export { SimulatedApiError } from './http';
export {
  ACQUISITION_SUBTASKS,
  type ApiKeyRecord,
  type CadoState,
  type CloudAccountRecord,
  type EvidenceRecord,
  type ImportRecord,
  type PipelineOutcome,
  type PipelineRecord,
  type PipelineSnapshot,
  type PipelineStatus,
  type PipelineType,
  PROCESSING_SUBTASKS,
  type ProjectRecord,
  pipelineSnapshot,
  type SubtaskState,
} from './model';
export { CADO_PERMISSIONS, CADO_ROLES, type CadoPermission, type CadoRole, permissionFlags } from './roles';
export {
  type CadoKeyInit,
  type CadoRequestLogEntry,
  type CadoSimulator,
  type CadoSimulatorOptions,
  startCadoSimulator,
} from './server';
