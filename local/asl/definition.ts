/**
 * Amazon States Language helpers shared by the extractor and the runner: a loose definition type, a walk over every
 * state (into Map `ItemProcessor`/`Iterator` and Parallel `Branches`), and the checks that refuse what the local
 * runner would silently get wrong.
 */
import {
  DuplicateStateNameError,
  JsonataNotSupportedError,
  TemplateResolutionError,
  UnsupportedAslFeatureError,
} from './errors';

/** A JSON value, as states exchange them. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One state of a definition; only `Type` is known for sure, the rest is read defensively. */
export interface AslState {
  Type: string;
  [field: string]: unknown;
}

/** A state machine definition (or a Map/Parallel sub-definition). */
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}

/** A state met while walking a definition. */
export interface StateVisit {
  readonly name: string;
  readonly state: AslState;
  /** Where the state lives, for messages: `definition`, `definition > Process Items (ItemProcessor)`... */
  readonly scope: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks the shape of a (sub-)definition and returns it typed; throws {@link TemplateResolutionError} otherwise. */
export function asDefinition(value: unknown, where = 'definition'): AslDefinition {
  if (!isRecord(value) || typeof value.StartAt !== 'string' || !isRecord(value.States)) {
    throw new TemplateResolutionError(
      `${where} is not a state machine definition (StartAt and States expected)`,
    );
  }
  for (const [name, state] of Object.entries(value.States)) {
    if (!isRecord(state) || typeof state.Type !== 'string') {
      throw new TemplateResolutionError(`${where}: state "${name}" has no Type`);
    }
  }
  return value as AslDefinition;
}

/** The sub-definitions a state owns: a Map's item processor, a Parallel's branches. */
export function childDefinitions(name: string, state: AslState, scope: string): [AslDefinition, string][] {
  if (state.Type === 'Map') {
    const processor = state.ItemProcessor ?? state.Iterator;
    const label = state.ItemProcessor ? 'ItemProcessor' : 'Iterator';
    const where = `${scope} > ${name} (${label})`;
    return [[asDefinition(processor, where), where]];
  }
  if (state.Type === 'Parallel') {
    if (!Array.isArray(state.Branches))
      throw new TemplateResolutionError(`${scope} > ${name}: Branches missing`);
    return state.Branches.map((branch, i) => {
      const where = `${scope} > ${name} (branch ${i})`;
      return [asDefinition(branch, where), where];
    });
  }
  return [];
}

/** Every state of the definition, depth first, including those inside Map and Parallel states. */
export function* walkStates(definition: AslDefinition, scope = 'definition'): Generator<StateVisit> {
  for (const [name, state] of Object.entries(definition.States)) {
    yield { name, state, scope };
    for (const [child, where] of childDefinitions(name, state, scope)) {
      yield* walkStates(child, where);
    }
  }
}

/**
 * Refuses JSONata, declared at the top (`QueryLanguage`) or on any state, including inside Map/Parallel.
 * aws-local-stepfunctions has no JSONata engine and ignores `Arguments`/`Output`/`Condition` without an error.
 */
export function assertJsonPathOnly(definition: AslDefinition): void {
  if (definition.QueryLanguage === 'JSONata') throw new JsonataNotSupportedError('The definition');
  for (const { name, state, scope } of walkStates(definition)) {
    if (state.QueryLanguage === 'JSONata') throw new JsonataNotSupportedError(`State "${name}" (${scope})`);
    for (const [child, where] of childDefinitions(name, state, scope)) {
      if (child.QueryLanguage === 'JSONata') throw new JsonataNotSupportedError(where);
    }
  }
}

/** Fields that only JSONata or workflow variables use; the local engine would ignore them silently. */
const IGNORED_FIELDS = ['Assign', 'Arguments', 'Output', 'Condition'] as const;
/** Distributed Map fields (not supported by aws-local-stepfunctions). */
const DISTRIBUTED_MAP_FIELDS = [
  'ItemReader',
  'ItemBatcher',
  'ResultWriter',
  'ToleratedFailurePercentage',
  'ToleratedFailurePercentagePath',
  'ToleratedFailureCount',
  'ToleratedFailureCountPath',
] as const;

function hasChoiceCondition(state: AslState): boolean {
  return Array.isArray(state.Choices) && state.Choices.some((rule) => isRecord(rule) && 'Condition' in rule);
}

/** The one callback integration the runner implements: Lambda invoke with a task token. */
export const LOCAL_CALLBACK_RESOURCE = /^arn:[^:]+:states:::lambda:invoke\.waitForTaskToken$/;

/**
 * Refuses a definition the local runner cannot run faithfully: JSONata, workflow variables (`Assign`), Distributed
 * Map, and `.sync` / `.waitForTaskToken` integrations other than Lambda's `.waitForTaskToken`. Each would otherwise run with a silently wrong result.
 */
export function assertRunnableLocally(definition: AslDefinition): void {
  assertJsonPathOnly(definition);
  for (const { name, state, scope } of walkStates(definition)) {
    const where = `State "${name}" (${scope})`;
    for (const field of IGNORED_FIELDS) {
      if (field in state)
        throw new UnsupportedAslFeatureError(`${where} uses ${field}, which the local runner ignores`);
    }
    if (hasChoiceCondition(state)) {
      throw new UnsupportedAslFeatureError(`${where} has a JSONata Condition in Choices`);
    }
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor;
      const mode =
        isRecord(processor) && isRecord(processor.ProcessorConfig)
          ? processor.ProcessorConfig.Mode
          : undefined;
      const distributedField = DISTRIBUTED_MAP_FIELDS.find((field) => field in state);
      if (mode === 'DISTRIBUTED' || distributedField) {
        throw new UnsupportedAslFeatureError(
          `${where} is a Distributed Map, which the local runner cannot run`,
        );
      }
    }
    if (
      state.Type === 'Task' &&
      typeof state.Resource === 'string' &&
      /\.(sync(:\d+)?|waitForTaskToken)$/.test(state.Resource) &&
      // The runner implements the callback pattern for Lambda (task-tokens.ts); every other one stays refused.
      !LOCAL_CALLBACK_RESOURCE.test(state.Resource)
    ) {
      throw new UnsupportedAslFeatureError(
        `${where} uses the ${state.Resource} integration pattern (not supported locally)`,
      );
    }
  }
}

/** Overrides are keyed by state name, so names must be unique across the whole definition (AWS requires it too). */
export function assertUniqueStateNames(definition: AslDefinition): void {
  const seen = new Set<string>();
  for (const { name } of walkStates(definition)) {
    if (seen.has(name)) throw new DuplicateStateNameError(name);
    seen.add(name);
  }
}
