import { describe, expect, it } from 'vitest';
import { describeCondition, renderMermaid } from '../../bin/diagram/asl-mermaid';
import type { AslDefinition } from '../../local/asl/definition';

const definition: AslDefinition = {
  StartAt: 'Fan Out',
  States: {
    'Fan Out': {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'Left', States: { Left: { Type: 'Pass', End: true } } },
        { StartAt: 'Right', States: { Right: { Type: 'Wait', Seconds: 30, End: true } } },
      ],
      Catch: [{ ErrorEquals: ['BoomError', 'States.Timeout'], Next: 'Broken' }],
      Next: 'Each',
    },
    Each: {
      Type: 'Map',
      ItemsPath: '$.items',
      MaxConcurrency: 3,
      ItemProcessor: { StartAt: 'Work', States: { Work: { Type: 'Task', Resource: 'arn:x', End: true } } },
      Next: 'Decide',
    },
    Decide: {
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.n', NumericLessThanPath: '$.limit' },
            { Not: { Variable: '$.done', BooleanEquals: true } },
          ],
          Next: 'Call',
        },
      ],
      Default: 'Done',
    },
    Call: {
      Type: 'Task',
      Resource: 'arn:y',
      Retry: [
        { ErrorEquals: ['Lambda.ServiceException', 'Lambda.SdkClientException'] },
        { ErrorEquals: ['SlowError'] },
      ],
      End: true,
    },
    Broken: { Type: 'Fail', Error: 'BrokenError' },
    Done: { Type: 'Succeed' },
  },
};

describe('renderMermaid', () => {
  const text = renderMermaid([{ title: 'Demo', definition }]);
  const lines = text.split('\n').map((line) => line.trim());

  it('draws Map and Parallel states as subgraphs, each branch from its own start', () => {
    expect(lines).toContain('subgraph m0_1["Fan Out<br/>Parallel"]');
    expect(lines).toContain('m0_1_start0(("branch 1"))');
    expect(lines).toContain('m0_1_start1(("branch 2"))');
    expect(lines).toContain('m0_1_start1 --> m0_3');
    expect(lines).toContain('m0_3{{"Right<br/>wait 30 seconds"}}');
    expect(lines).toContain('subgraph m0_4["Each<br/>Map over $.items, 3 at once"]');
  });

  it('draws transitions, Choice rules in words with a default, and Catch as dotted arrows naming the errors', () => {
    expect(lines).toContain('m0_start --> m0_1');
    expect(lines).toContain('m0_1 --> m0_4');
    expect(lines).toContain('m0_1 -.->|"catch BoomError, States.Timeout"| m0_8');
    expect(lines).toContain(`m0_6 -->|"($.n < $.limit) and (not ($.done = true))"| m0_7`);
    expect(lines).toContain('m0_6 -->|"otherwise"| m0_9');
  });

  it('names retried errors in the label, Lambda service errors once; a top-level End gets an end node', () => {
    expect(lines).toContain('m0_7["Call<br/>retry: Lambda service errors, SlowError"]');
    expect(lines).toContain('m0_7 --> m0_7_end');
    expect(lines).toContain('m0_8(["Broken<br/>error: BrokenError"])');
    expect(lines.some((line) => line.startsWith('m0_5_end'))).toBe(false);
  });

  it('gives each machine its own ids', () => {
    const two = renderMermaid([
      { title: 'A', definition },
      { title: 'B', definition },
    ]);
    expect(two).toContain('m0_start(["▶ A"])');
    expect(two).toContain('m1_start(["▶ B"])');
    expect(two).toContain('m1_1 -.->|"catch BoomError, States.Timeout"| m1_8');
  });

  it('fails loudly on what it cannot draw', () => {
    const unknown = { StartAt: 'X', States: { X: { Type: 'Teleport', End: true } } };
    expect(() => renderMermaid([{ title: 'x', definition: unknown }])).toThrow(/Teleport/);
    const dangling = { StartAt: 'X', States: { X: { Type: 'Pass', Next: 'Nowhere' } } };
    expect(() => renderMermaid([{ title: 'x', definition: dangling }])).toThrow(/Nowhere/);
    expect(() => describeCondition({ Variable: '$.x', StringSoundsLike: 'y' })).toThrow(/\$\.x/);
  });

  it('describes type tests and patterns', () => {
    expect(describeCondition({ Variable: '$.e', IsNull: true })).toBe('$.e is null');
    expect(describeCondition({ Variable: '$.e', IsPresent: false })).toBe('$.e is not present');
    expect(describeCondition({ Variable: '$.s', StringMatches: 'log-*' })).toBe("$.s matches 'log-*'");
  });
});
