/** SendTaskSuccess / SendTaskFailure on the project's Step Functions client (timeouts, retries). */
import { SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
import { sfnClient } from '../shared/aws';
import type { TaskResumer } from './core';

/** Resumes waiting executions through Step Functions (the Task Watcher's and the Cado webhook's answers). */
export function stepFunctionsResumer(): TaskResumer {
  const client = sfnClient();
  return {
    async success(taskToken, output) {
      await client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
    },
    async failure(taskToken, error, cause) {
      await client.send(new SendTaskFailureCommand({ taskToken, error, cause }));
    },
  };
}
