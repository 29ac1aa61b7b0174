/**
 * CloudFormation, the one call the CLI makes: DescribeStacks (a deployed stack's outputs). The stacks are registered
 * by the caller (`setStack`); nothing is deployed or interpreted.
 *
 * CloudFormation speaks the AWS *query* protocol, unlike the JSON services of this fake: the request is a
 * form-encoded body (`Action=DescribeStacks&Version=2010-05-15&StackName=...`), the answer is XML, and an error is
 * `<ErrorResponse><Error><Type>Sender</Type><Code>...</Code><Message>...</Message></Error>...` (the SDK maps the
 * code to its exception class). An unknown stack is `ValidationError` "Stack with id X does not exist", as AWS says.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError } from './protocol';

/** What a test registers: a stack and its outputs. */
export interface FakeStackInit {
  /** Output key → value (e.g. `StateMachineArn`). */
  readonly outputs: Readonly<Record<string, string>>;
  /** @default 'CREATE_COMPLETE' */
  readonly status?: string;
}

interface FakeStack {
  readonly name: string;
  readonly stackId: string;
  readonly created: number;
  readonly status: string;
  readonly outputs: Readonly<Record<string, string>>;
}

/** Where the fake pretends to live, and its clock. */
export interface CloudFormationFakeOptions {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => number;
}

/** The XML namespace of CloudFormation responses. */
const XMLNS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

/** Escapes text for an XML element body. */
export function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A query-protocol error document for `error`. */
export function queryErrorXml(error: AwsServiceError): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${xmlText(error.code)}</Code>` +
    `<Message>${xmlText(error.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
  );
}

/** In-memory CloudFormation (stack outputs only). */
export class CloudFormationFake {
  private readonly stacks = new Map<string, FakeStack>();

  constructor(private readonly opts: CloudFormationFakeOptions) {}

  /** The actions, by name: each takes the form parameters and returns the whole XML response. */
  readonly actions: Record<string, (params: URLSearchParams) => string> = {
    DescribeStacks: (params) => this.describeStacks(params),
  };

  /** Test helper: registers (or replaces) a stack with its outputs; returns its stack id (an ARN). */
  setStack(name: string, init: FakeStackInit): string {
    const existing = this.stacks.get(name);
    const stackId =
      existing?.stackId ??
      `arn:aws:cloudformation:${this.opts.region}:${this.opts.accountId}:stack/${name}/${randomUUID()}`;
    this.stacks.set(name, {
      name,
      stackId,
      created: existing?.created ?? this.opts.clock(),
      status: init.status ?? 'CREATE_COMPLETE',
      outputs: { ...init.outputs },
    });
    return stackId;
  }

  /** Test helper: removes a stack (as if it was deleted). */
  deleteStack(name: string): void {
    this.stacks.delete(name);
  }

  private find(nameOrId: string): FakeStack {
    for (const stack of this.stacks.values()) {
      if (stack.name === nameOrId || stack.stackId === nameOrId) return stack;
    }
    throw new AwsServiceError('ValidationError', `Stack with id ${nameOrId} does not exist`);
  }

  private describeStacks(params: URLSearchParams): string {
    const name = params.get('StackName');
    const stacks = name ? [this.find(name)] : [...this.stacks.values()];
    const members = stacks.map((stack) => {
      const outputs = Object.entries(stack.outputs)
        .map(
          ([key, value]) =>
            `<member><OutputKey>${xmlText(key)}</OutputKey><OutputValue>${xmlText(value)}</OutputValue></member>`,
        )
        .join('');
      return (
        `<member><StackName>${xmlText(stack.name)}</StackName><StackId>${xmlText(stack.stackId)}</StackId>` +
        `<CreationTime>${new Date(stack.created).toISOString()}</CreationTime>` +
        `<StackStatus>${xmlText(stack.status)}</StackStatus><Outputs>${outputs}</Outputs></member>`
      );
    });
    return (
      `<DescribeStacksResponse xmlns="${XMLNS}"><DescribeStacksResult><Stacks>${members.join('')}</Stacks>` +
      `</DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
      '</DescribeStacksResponse>'
    );
  }
}
