import { Validations } from 'aws-cdk-lib';
import { EventField, type IEventBus, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ENV, OUTCOME_EVENT, type OUTCOME_STATUSES } from '../../lambdas/shared/contract';
import type { TaskFunction } from './task-function';

/** Properties of {@link OutcomeNotifications}. */
export interface OutcomeNotificationsProps {
  /** The project's bus (the intake bus: outcome events have a source of their own). */
  readonly bus: IEventBus;
  /** The notification topic. */
  readonly topic: ITopic;
  /** The function that puts outcome events (Record Outcome). */
  readonly publisher: TaskFunction;
  /** Outcomes whose event also sends a summary to the topic (`config.notifyOutcomes`). */
  readonly notifyOutcomes: readonly (typeof OUTCOME_STATUSES)[number][];
}

/**
 * Outcome events and the notifications they send: Record Outcome puts an `Investigation <Outcome>` event on the
 * project's bus for every outcome (source `s1cado.investigation`), and a rule sends a readable summary of the chosen
 * outcomes to the notification topic. Other tools may add rules of their own on the same events.
 */
export class OutcomeNotifications extends Construct {
  /** The rule that notifies the topic; undefined when no outcome is chosen. */
  readonly rule?: Rule;

  constructor(scope: Construct, id: string, props: OutcomeNotificationsProps) {
    super(scope, id);
    props.publisher.addEnvironment(ENV.outcomeBusName, props.bus.eventBusName);
    props.bus.grantPutEventsTo(props.publisher);
    if (props.notifyOutcomes.length === 0) return;
    this.rule = new Rule(this, 'NotifyRule', {
      description: 'Sends a summary of s1-cado-forensics investigation outcomes to the notification topic',
      eventBus: props.bus,
      eventPattern: {
        source: [OUTCOME_EVENT.source],
        detailType: props.notifyOutcomes.map((status) => OUTCOME_EVENT.detailTypes[status]),
      },
    });
    const field = (path: string) => EventField.fromPath(`$.detail.${path}`);
    this.rule.addTarget(
      new SnsTopic(props.topic, {
        // A role of the rule's own publishes (its policy names this topic and key), rather than a grant to the
        // events service that would not be bound to this rule.
        authorizeUsingRole: true,
        message: RuleTargetInput.fromMultilineText(
          [
            `s1-cado-forensics investigation ${field('investigationId')}: ${field('status')}`,
            `${field('summary')}`,
            `Case report: ${field('reportUri')}`,
            `Case file: ${field('caseUri')}`,
            `Check the chain of custody: ${field('verifyCommand')}`,
            `Next: ${field('nextStep')}`,
          ].join('\n'),
        ),
      }),
    );
    Validations.of(this.rule.node.findChild('EventsRole')).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        "CDK's grant to publish to an encrypted topic; the statement is scoped to the notification topic's own key.",
    });
  }
}
