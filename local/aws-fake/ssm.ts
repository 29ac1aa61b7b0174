/**
 * Systems Manager Parameter Store, the part threat intake uses: GetParameter and PutParameter for `String` and
 * `SecureString` parameters, with versions, `Overwrite` and the standard tier's 4 KB value limit.
 */
import {
  AwsServiceError,
  epochSeconds,
  type FakeServiceOptions,
  type Operation,
  optionalString,
  type RequestBody,
  requiredString,
} from './protocol';

/** A stored parameter. */
export interface FakeParameter {
  readonly name: string;
  readonly type: 'String' | 'StringList' | 'SecureString';
  readonly value: string;
  readonly version: number;
  /** Epoch ms. */
  readonly lastModified: number;
}

/** Where the fake pretends to live, and its clock. */
export type SsmFakeOptions = FakeServiceOptions;

const STANDARD_MAX_VALUE = 4096;
const TYPES = new Set(['String', 'StringList', 'SecureString']);

/** In-memory Parameter Store. */
export class SsmFake {
  private readonly parameters = new Map<string, FakeParameter>();

  constructor(private readonly opts: SsmFakeOptions) {}

  /** The operations, by name, for the server's dispatcher. */
  readonly operations: Record<string, Operation> = {
    GetParameter: (body) => this.getParameter(body),
    PutParameter: (body) => this.putParameter(body),
  };

  /** Test helper: the current value, if the parameter exists. */
  get(name: string): string | undefined {
    return this.parameters.get(name)?.value;
  }

  /** Test helper: the stored parameter (value, version, type). */
  describe(name: string): FakeParameter | undefined {
    const parameter = this.parameters.get(name);
    return parameter ? { ...parameter } : undefined;
  }

  /** Test helper: creates or overwrites a `String` parameter; returns its new version. */
  set(name: string, value: string): number {
    return this.store(name, value, 'String');
  }

  /** Test helper: removes a parameter. */
  delete(name: string): void {
    this.parameters.delete(name);
  }

  private arnOf(name: string): string {
    const path = name.startsWith('/') ? name.slice(1) : name;
    return `arn:aws:ssm:${this.opts.region}:${this.opts.accountId}:parameter/${path}`;
  }

  private store(name: string, value: string, type: FakeParameter['type']): number {
    const version = (this.parameters.get(name)?.version ?? 0) + 1;
    this.parameters.set(name, { name, type, value, version, lastModified: this.opts.clock() });
    return version;
  }

  private getParameter(body: RequestBody): Record<string, unknown> {
    const name = requiredString(body, 'Name');
    const parameter = this.parameters.get(name);
    if (!parameter) throw new AwsServiceError('ParameterNotFound', '');
    return {
      Parameter: {
        Name: parameter.name,
        Type: parameter.type,
        Value: parameter.value,
        Version: parameter.version,
        LastModifiedDate: epochSeconds(parameter.lastModified),
        ARN: this.arnOf(parameter.name),
        DataType: 'text',
      },
    };
  }

  private putParameter(body: RequestBody): Record<string, unknown> {
    const name = requiredString(body, 'Name');
    const value = requiredString(body, 'Value');
    const existing = this.parameters.get(name);
    const type = optionalString(body, 'Type') ?? existing?.type ?? 'String';
    if (!TYPES.has(type)) {
      throw new AwsServiceError(
        'ValidationException',
        `Type ${type} is not one of String, StringList, SecureString`,
      );
    }
    const tier = optionalString(body, 'Tier') ?? 'Standard';
    if (tier === 'Standard' && value.length > STANDARD_MAX_VALUE) {
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to ${STANDARD_MAX_VALUE}`,
      );
    }
    if (existing && body.Overwrite !== true) {
      throw new AwsServiceError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const version = this.store(name, value, type as FakeParameter['type']);
    return { Version: version, Tier: tier };
  }
}
