/**
 * Turns the state machine CDK synthesized into plain ASL that aws-local-stepfunctions can run, plus a map of the
 * Lambda functions the definition can reach.
 *
 * Input is the template (`Template.fromStack(stack).toJSON()`). The `DefinitionString` is resolved the way
 * CloudFormation would, with local placeholders where a value only exists after deployment:
 * - `Ref AWS::Partition|Region|AccountId|URLSuffix|StackName|StackId` → the options (defaults `aws`, `us-east-1`,
 *   `000000000000`, `amazonaws.com`, `local-stack`);
 * - `Fn::GetAtt [<fn>, Arn]` → `arn:aws:lambda:us-east-1:000000000000:function:<LogicalId>` (or the function's own
 *   `FunctionName` when the template sets one), so every Task resource names its function recognisably;
 * - `Ref`/`Fn::GetAtt` of other resources → placeholders shaped like the real value (a bucket name, a topic ARN...);
 * - `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split` are evaluated; any other intrinsic throws
 *   {@link UnsupportedIntrinsicError}, so a new kind of token fails loudly instead of leaking into the definition.
 * `DefinitionSubstitutions` (`${key}` in the definition) are applied. A definition declaring JSONata is refused.
 *
 * Function environment: plain strings are kept as they are; values built from other resources (a bucket name, a
 * secret ARN) hold the placeholder and their keys are listed in `unresolvedEnvironment`, so a local run must supply
 * real local values for them (the runner refuses to start otherwise, see `runner.ts`).
 */
import { type AslDefinition, asDefinition, assertJsonPathOnly } from './definition';
import { TemplateResolutionError, UnsupportedIntrinsicError } from './errors';

/** Where the placeholders pretend the stack lives. */
export interface ExtractOptions {
  /** Logical id of the state machine; required when the template holds more than one. */
  readonly logicalId?: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** @default 'local-stack' */
  readonly stackName?: string;
}

/** A Lambda function of the template, as the local runner needs it. */
export interface ExtractedFunction {
  readonly logicalId: string;
  /** Placeholder ARN, the key of {@link ExtractedStateMachine.functions}. */
  readonly arn: string;
  /** Function name (the `FunctionName` property when it is a plain string, else the logical id). */
  readonly functionName: string;
  /** The `S1CadoStep` metadata: which `lambdas/<step>/index.ts` implements the function. */
  readonly step?: string;
  /** Environment variables; values listed in `unresolvedEnvironment` are placeholders. */
  readonly environment: Readonly<Record<string, string>>;
  /** Keys of `environment` whose value depends on another resource (placeholder locally). */
  readonly unresolvedEnvironment: readonly string[];
  /** `Timeout` in seconds (CloudFormation default 3). */
  readonly timeoutSeconds: number;
  /** `MemorySize` in MB (CloudFormation default 128). */
  readonly memorySize: number;
}

/** The result of {@link extractStateMachine}. */
export interface ExtractedStateMachine {
  readonly logicalId: string;
  /** Placeholder ARN of the state machine (`...:stateMachine:<name>`). */
  readonly arn: string;
  /** The `StateMachineName` property when plain, else the logical id. */
  readonly name: string;
  /** Plain ASL: no CloudFormation intrinsics left. */
  readonly definition: AslDefinition;
  /** Every Lambda function of the template, keyed by placeholder ARN. */
  readonly functions: Map<string, ExtractedFunction>;
}

interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}

interface TemplateParameter {
  Default?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Tracks whether a resolved value depended on another resource of the stack. */
interface Resolution {
  unresolved: boolean;
}

/** Removes a property, as `Ref AWS::NoValue` does in CloudFormation. */
const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

class TemplateResolver {
  private readonly resources: Record<string, TemplateResource>;
  private readonly parameters: Record<string, TemplateParameter>;
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly stackName: string;

  constructor(template: Record<string, unknown>, opts: ExtractOptions) {
    if (!isRecord(template.Resources)) throw new TemplateResolutionError('The template has no Resources');
    this.resources = template.Resources as Record<string, TemplateResource>;
    this.parameters = isRecord(template.Parameters)
      ? (template.Parameters as Record<string, TemplateParameter>)
      : {};
    this.partition = opts.partition ?? 'aws';
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '000000000000';
    this.stackName = opts.stackName ?? 'local-stack';
  }

  resourcesOfType(type: string): [string, TemplateResource][] {
    return Object.entries(this.resources).filter(([, resource]) => resource.Type === type);
  }

  resource(logicalId: string, where: string): TemplateResource {
    const resource = this.resources[logicalId];
    if (!resource)
      throw new TemplateResolutionError(`${where} refers to "${logicalId}", which is not in the template`);
    return resource;
  }

  /** The name a resource gets: its plain name property if the template sets one, else its logical id. */
  physicalName(logicalId: string, resource: TemplateResource): string {
    const nameProperty = {
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::StepFunctions::StateMachine': 'StateMachineName',
      'AWS::S3::Bucket': 'BucketName',
      'AWS::SNS::Topic': 'TopicName',
      'AWS::SQS::Queue': 'QueueName',
      'AWS::SecretsManager::Secret': 'Name',
    }[resource.Type];
    const name = nameProperty ? resource.Properties?.[nameProperty] : undefined;
    if (typeof name === 'string') return name;
    // S3 bucket names are lower case; keep the placeholder a valid name.
    return resource.Type === 'AWS::S3::Bucket' ? logicalId.toLowerCase() : logicalId;
  }

  arnOf(logicalId: string, resource: TemplateResource): string {
    const { partition: p, region: r, accountId: a } = this;
    const name = this.physicalName(logicalId, resource);
    switch (resource.Type) {
      case 'AWS::Lambda::Function':
        return `arn:${p}:lambda:${r}:${a}:function:${name}`;
      case 'AWS::StepFunctions::StateMachine':
        return `arn:${p}:states:${r}:${a}:stateMachine:${name}`;
      case 'AWS::S3::Bucket':
        return `arn:${p}:s3:::${name}`;
      case 'AWS::SecretsManager::Secret':
        return `arn:${p}:secretsmanager:${r}:${a}:secret:${name}`;
      case 'AWS::IAM::Role':
        return `arn:${p}:iam::${a}:role/${name}`;
      case 'AWS::Logs::LogGroup':
        return `arn:${p}:logs:${r}:${a}:log-group:${name}:*`;
      case 'AWS::SNS::Topic':
      case 'AWS::SQS::Queue':
        return `arn:${p}:${resource.Type.split('::')[1]?.toLowerCase()}:${r}:${a}:${name}`;
      default: {
        const [, service = 'local', kind = 'resource'] = resource.Type.split('::');
        return `arn:${p}:${service.toLowerCase()}:${r}:${a}:${kind.toLowerCase()}/${name}`;
      }
    }
  }

  /** What `Ref` returns for a resource (the name for most, the ARN or URL for some). */
  refOf(logicalId: string, resource: TemplateResource): string {
    switch (resource.Type) {
      case 'AWS::SNS::Topic':
      case 'AWS::SecretsManager::Secret':
      case 'AWS::StepFunctions::StateMachine':
        return this.arnOf(logicalId, resource);
      case 'AWS::SQS::Queue':
        return `https://sqs.${this.region}.amazonaws.com/${this.accountId}/${this.physicalName(logicalId, resource)}`;
      default:
        return this.physicalName(logicalId, resource);
    }
  }

  private pseudo(name: string): string | typeof NO_VALUE | undefined {
    switch (name) {
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return this.accountId;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:${this.partition}:cloudformation:${this.region}:${this.accountId}:stack/${this.stackName}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::NoValue':
        return NO_VALUE;
      default:
        return undefined;
    }
  }

  ref(name: string, where: string, track: Resolution): string | typeof NO_VALUE {
    const pseudo = this.pseudo(name);
    if (pseudo !== undefined) return pseudo;
    if (name.startsWith('AWS::')) throw new UnsupportedIntrinsicError(`Ref ${name}`, where);
    const parameter = this.parameters[name];
    if (parameter) {
      if (typeof parameter.Default === 'string' || typeof parameter.Default === 'number') {
        return String(parameter.Default);
      }
      track.unresolved = true;
      return `local-parameter-${name}`;
    }
    track.unresolved = true;
    return this.refOf(name, this.resource(name, where));
  }

  getAtt(logicalId: string, attribute: string, where: string, track: Resolution): string {
    const resource = this.resource(logicalId, where);
    track.unresolved = true;
    if (attribute === 'Arn' || (resource.Type === 'AWS::SNS::Topic' && attribute === 'TopicArn')) {
      return this.arnOf(logicalId, resource);
    }
    if (attribute === 'Name' || attribute === 'TopicName' || attribute === 'QueueName') {
      return this.physicalName(logicalId, resource);
    }
    return `local-${logicalId}-${attribute}`.replace(/[^A-Za-z0-9-]/g, '-');
  }

  /** Resolves every intrinsic in `value`; `track.unresolved` turns true when it used another resource. */
  resolve(value: unknown, where: string, track: Resolution): unknown {
    if (Array.isArray(value)) {
      return value
        .map((item, i) => this.resolve(item, `${where}[${i}]`, track))
        .filter((item) => item !== NO_VALUE);
    }
    if (!isRecord(value)) return value;
    const keys = Object.keys(value);
    const [key] = keys;
    if (keys.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
      return this.intrinsic(key, value[key], where, track);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const resolved = this.resolve(v, `${where}.${k}`, track);
      if (resolved !== NO_VALUE) out[k] = resolved;
    }
    return out;
  }

  private resolveString(value: unknown, where: string, track: Resolution): string {
    const resolved = this.resolve(value, where, track);
    if (typeof resolved === 'string') return resolved;
    if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
    throw new TemplateResolutionError(`${where} should resolve to a string, got ${JSON.stringify(resolved)}`);
  }

  private resolveList(value: unknown, where: string, track: Resolution): string[] {
    const resolved = this.resolve(value, where, track);
    if (!Array.isArray(resolved)) throw new TemplateResolutionError(`${where} should resolve to a list`);
    return resolved.map((item, i) => {
      if (typeof item === 'string' || typeof item === 'number') return String(item);
      throw new TemplateResolutionError(`${where}[${i}] should resolve to a string`);
    });
  }

  private intrinsic(name: string, args: unknown, where: string, track: Resolution): unknown {
    const at = `${where} (${name})`;
    switch (name) {
      case 'Ref':
        if (typeof args !== 'string') throw new TemplateResolutionError(`${at}: Ref takes a name`);
        return this.ref(args, at, track);
      case 'Fn::GetAtt': {
        const [logicalId, attribute] =
          typeof args === 'string' ? splitOnce(args, '.') : Array.isArray(args) ? args : [];
        if (typeof logicalId !== 'string' || typeof attribute !== 'string') {
          throw new TemplateResolutionError(`${at}: Fn::GetAtt takes [logicalId, attribute]`);
        }
        return this.getAtt(logicalId, attribute, at, track);
      }
      case 'Fn::Join': {
        if (!Array.isArray(args) || args.length !== 2 || typeof args[0] !== 'string') {
          throw new TemplateResolutionError(`${at}: Fn::Join takes [delimiter, list]`);
        }
        return this.resolveList(args[1], at, track).join(args[0]);
      }
      case 'Fn::Select': {
        if (!Array.isArray(args) || args.length !== 2)
          throw new TemplateResolutionError(`${at}: Fn::Select takes [index, list]`);
        const index = Number(this.resolve(args[0], at, track));
        const list = this.resolveList(args[1], at, track);
        const item = list[index];
        if (item === undefined) throw new TemplateResolutionError(`${at}: index ${index} out of range`);
        return item;
      }
      case 'Fn::Split': {
        if (!Array.isArray(args) || args.length !== 2 || typeof args[0] !== 'string') {
          throw new TemplateResolutionError(`${at}: Fn::Split takes [delimiter, string]`);
        }
        return this.resolveString(args[1], at, track).split(args[0]);
      }
      case 'Fn::Sub':
        return this.sub(args, at, track);
      default:
        throw new UnsupportedIntrinsicError(name, where);
    }
  }

  private sub(args: unknown, where: string, track: Resolution): string {
    const [text, variables] = typeof args === 'string' ? [args, {}] : Array.isArray(args) ? args : [];
    if (typeof text !== 'string' || !isRecord(variables)) {
      throw new TemplateResolutionError(`${where}: Fn::Sub takes a string or [string, variables]`);
    }
    return text.replace(/\$\{([^}]*)\}/g, (_match, expression: string) => {
      // `${!Literal}` is an escape for a literal `${Literal}`.
      if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
      if (expression in variables) return this.resolveString(variables[expression], where, track);
      const [logicalId, attribute] = splitOnce(expression, '.');
      if (attribute !== undefined) return this.getAtt(logicalId, attribute, where, track);
      const value = this.ref(expression, where, track);
      if (value === NO_VALUE) throw new TemplateResolutionError(`${where}: AWS::NoValue inside Fn::Sub`);
      return value;
    });
  }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const index = text.indexOf(separator);
  return index < 0 ? [text, undefined] : [text.slice(0, index), text.slice(index + 1)];
}

function pickStateMachine(
  resolver: TemplateResolver,
  logicalId: string | undefined,
): [string, TemplateResource] {
  const machines = resolver.resourcesOfType('AWS::StepFunctions::StateMachine');
  if (logicalId !== undefined) {
    const found = machines.find(([id]) => id === logicalId);
    if (!found) {
      const known = machines.map(([id]) => id).join(', ') || 'none';
      throw new TemplateResolutionError(`No state machine "${logicalId}" in the template (found: ${known})`);
    }
    return found;
  }
  const [only, ...others] = machines;
  if (!only) throw new TemplateResolutionError('The template has no AWS::StepFunctions::StateMachine');
  if (others.length > 0) {
    const ids = machines.map(([id]) => id).join(', ');
    throw new TemplateResolutionError(
      `The template has several state machines (${ids}); pass opts.logicalId`,
    );
  }
  return only;
}

function resolveDefinition(
  resolver: TemplateResolver,
  logicalId: string,
  resource: TemplateResource,
): AslDefinition {
  const props = resource.Properties ?? {};
  const where = `${logicalId}.Properties`;
  const track: Resolution = { unresolved: false };
  if (props.DefinitionS3Location !== undefined) {
    throw new TemplateResolutionError(
      `${logicalId} loads its definition from S3 (DefinitionS3Location); not supported`,
    );
  }
  let definition: unknown;
  if (props.DefinitionString !== undefined) {
    const resolved = resolver.resolve(props.DefinitionString, `${where}.DefinitionString`, track);
    if (typeof resolved !== 'string')
      throw new TemplateResolutionError(`${where}.DefinitionString is not a string`);
    let text = resolved;
    if (isRecord(props.DefinitionSubstitutions)) {
      for (const [key, raw] of Object.entries(props.DefinitionSubstitutions)) {
        const value = resolver.resolve(raw, `${where}.DefinitionSubstitutions.${key}`, track);
        text = text.split(`\${${key}}`).join(String(value));
      }
    }
    try {
      definition = JSON.parse(text);
    } catch (error) {
      throw new TemplateResolutionError(
        `${where}.DefinitionString is not JSON once resolved: ${String(error)}`,
      );
    }
  } else if (isRecord(props.Definition)) {
    definition = resolver.resolve(props.Definition, `${where}.Definition`, track);
  } else {
    throw new TemplateResolutionError(`${logicalId} has neither DefinitionString nor Definition`);
  }
  const asl = asDefinition(definition, `${logicalId} definition`);
  assertJsonPathOnly(asl);
  return asl;
}

function extractFunction(
  resolver: TemplateResolver,
  logicalId: string,
  resource: TemplateResource,
): ExtractedFunction {
  const props = resource.Properties ?? {};
  const variables = isRecord(props.Environment) ? props.Environment.Variables : undefined;
  const environment: Record<string, string> = {};
  const unresolvedEnvironment: string[] = [];
  if (isRecord(variables)) {
    for (const [key, raw] of Object.entries(variables)) {
      const track: Resolution = { unresolved: false };
      const value = resolver.resolve(raw, `${logicalId}.Environment.Variables.${key}`, track);
      if (value === NO_VALUE) continue;
      if (typeof value === 'object' || value === undefined) {
        throw new TemplateResolutionError(`${logicalId}.Environment.Variables.${key} is not a scalar`);
      }
      environment[key] = String(value);
      if (track.unresolved) unresolvedEnvironment.push(key);
    }
  }
  const step = resource.Metadata?.S1CadoStep;
  return {
    logicalId,
    arn: resolver.arnOf(logicalId, resource),
    functionName: resolver.physicalName(logicalId, resource),
    ...(typeof step === 'string' ? { step } : {}),
    environment,
    unresolvedEnvironment,
    timeoutSeconds: typeof props.Timeout === 'number' ? props.Timeout : 3,
    memorySize: typeof props.MemorySize === 'number' ? props.MemorySize : 128,
  };
}

/**
 * Extracts one state machine from a synthesized template as plain ASL, with the template's Lambda functions.
 *
 * @param template `Template.fromStack(stack).toJSON()` (or a parsed `*.template.json`)
 * @throws UnsupportedIntrinsicError on an intrinsic it cannot resolve; TemplateResolutionError on a template without
 *   (or with several, and no `logicalId`) state machines or with dangling references; JsonataNotSupportedError
 */
export function extractStateMachine(
  template: Record<string, unknown>,
  opts: ExtractOptions = {},
): ExtractedStateMachine {
  const resolver = new TemplateResolver(template, opts);
  const [logicalId, resource] = pickStateMachine(resolver, opts.logicalId);
  const definition = resolveDefinition(resolver, logicalId, resource);
  const functions = new Map<string, ExtractedFunction>();
  for (const [id, fn] of resolver.resourcesOfType('AWS::Lambda::Function')) {
    const extracted = extractFunction(resolver, id, fn);
    functions.set(extracted.arn, extracted);
  }
  return {
    logicalId,
    arn: resolver.arnOf(logicalId, resource),
    name: resolver.physicalName(logicalId, resource),
    definition,
    functions,
  };
}

/**
 * Finds a function by what a Task names it with: a full or partial ARN (with or without a version/alias
 * qualifier) or a bare function name.
 */
export function findFunction(
  functions: ReadonlyMap<string, ExtractedFunction>,
  nameOrArn: string,
): ExtractedFunction | undefined {
  const direct = functions.get(nameOrArn);
  if (direct) return direct;
  // arn:partition:lambda:region:account:function:name[:qualifier], or name[:qualifier]
  const parts = nameOrArn.split(':');
  const name = parts[0] === 'arn' ? parts[6] : parts[0];
  if (!name) return undefined;
  for (const fn of functions.values()) {
    if (fn.functionName === name) return fn;
  }
  return undefined;
}
