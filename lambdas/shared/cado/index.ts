/**
 * The Cado platform client: `createCadoClient(...)` and the pure pipeline rules. See `client.ts` for the calls and
 * `pipeline.ts` for how a pipeline's outcome is decided.
 */
export {
  CADO_REQUIREMENTS,
  CadoClient,
  type CadoClientOptions,
  type CadoEvidence,
  type CadoProject,
  type CadoPurpose,
  type CadoSystemStatus,
  type CadoWhoami,
  cadoProjectName,
  createCadoClient,
  type FileNameForm,
  type FileNameLayout,
  type ImportS3Input,
  type ImportS3Result,
  MAX_PROJECT_NAME_LENGTH,
  type MissingPermission,
  missingPermissionsFor,
  normaliseCadoBaseUrl,
  otherFileNameLayout,
  type PermissionRequirement,
  reportsNoFile,
} from './client';
export {
  type CadoPipeline,
  type CadoSubtask,
  type ClassifiedPipeline,
  type CombineOptions,
  classifyPipeline,
  combineOutcome,
  type PipelineClassification,
  type PipelineOutcome,
  type PipelineState,
  type PipelineSummary,
  toPipeline,
} from './pipeline';
export { pipelineSchema, type RawPipeline } from './schemas';
export * from './xdr';
