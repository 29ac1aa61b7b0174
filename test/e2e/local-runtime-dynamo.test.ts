/**
 * The local runtime's DynamoDB: dynalite started by the local stack with the coordination table exactly as the
 * synthesized template defines it, reachable by handlers through their environment alone, and gone (port closed,
 * no server handle left) after close.
 */
import { connect } from 'node:net';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { resetAwsClients } from '../../lambdas/shared/aws';
import { coordinationStore } from '../../lambdas/shared/coordination';
import { tablesFromTemplate } from '../../local/dynamo';
import { startLocalStack, synthesizeLocal } from '../../local/local-stack';

const serverHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

/** Resolves true when something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('tablesFromTemplate', () => {
  it("takes the coordination table's key schema and billing from the template, not from a copy", () => {
    const { template, coordinationTableId } = synthesizeLocal({
      s1ConsoleUrl: 'http://127.0.0.1:1',
      cadoUrl: 'http://127.0.0.1:2',
      allowLoopback: true,
    });
    const tables = tablesFromTemplate(template);
    expect(tables.map((t) => t.logicalId)).toEqual([coordinationTableId]);
    const resource = (template.Resources as Record<string, { Properties: Record<string, unknown> }>)[
      coordinationTableId
    ];
    expect(tables[0]?.input).toMatchObject({
      TableName: coordinationTableId,
      KeySchema: resource?.Properties.KeySchema,
      AttributeDefinitions: resource?.Properties.AttributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('refuses a table whose definition is not literal', () => {
    const template = {
      Resources: {
        T: {
          Type: 'AWS::DynamoDB::Table',
          Properties: { KeySchema: { Ref: 'Elsewhere' }, AttributeDefinitions: [] },
        },
      },
    };
    expect(() => tablesFromTemplate(template)).toThrow(/T\.KeySchema depends on another resource/);
  });
});

describe('the local stack with dynalite', () => {
  it('creates the table, points handlers at it through the environment, and closes without leaks', async () => {
    const handlesBefore = serverHandles();
    const local = await startLocalStack();
    const port = Number(new URL(local.dynamo.endpoint).port);
    const saved = { ...process.env };
    try {
      const described = await local.dynamo.client.send(
        new DescribeTableCommand({ TableName: local.coordinationTable }),
      );
      expect(described.Table?.TableStatus).toBe('ACTIVE');
      expect(described.Table?.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(local.machine.env).toMatchObject({
        COORDINATION_TABLE_NAME: local.coordinationTable,
        AWS_ENDPOINT_URL_DYNAMODB: local.dynamo.endpoint,
      });
      expect(local.awsEnv.AWS_ENDPOINT_URL_DYNAMODB).toBe(local.dynamo.endpoint);
      expect(local.outputs.CoordinationTableName).toBe(local.coordinationTable);
      // DynamoDB's JSON protocol goes to dynalite, not to the AWS fake (which answers other X-Amz-Target prefixes).
      expect(local.dynamo.endpoint).not.toBe(local.aws.endpoint);

      // A handler's view: nothing but the environment the local stack gives it.
      Object.assign(process.env, local.machine.env);
      resetAwsClients();
      const store = coordinationStore();
      const schema = z.object({ n: z.number() });
      const key = { pk: 'local-stack#probe', sk: 'probe' };
      expect((await store.putIfAbsent(key, { n: 1 }, schema)).status).toBe('created');
      expect((await store.putIfAbsent(key, { n: 2 }, schema)).status).toBe('exists');
      expect(local.aws.requests.some((r) => r.operation.endsWith('Item'))).toBe(false);
      expect(await listening(port)).toBe(true);
    } finally {
      process.env = saved;
      resetAwsClients();
      await local.close();
    }
    expect(await listening(port)).toBe(false);
    expect(serverHandles()).toBe(handlesBefore);
  });
});
