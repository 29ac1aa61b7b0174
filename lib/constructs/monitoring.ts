import { RemovalPolicy } from 'aws-cdk-lib';
import type { AlarmBase } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Grant, type IGrantable, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /**
   * Addresses subscribed to the notification topic (`config.notificationEmails`); each receives a
   * confirmation email after deployment.
   * @default - no subscriptions
   */
  readonly notificationEmails?: readonly string[];
}

/**
 * Where operators hear about the system: an SNS topic encrypted with a customer-managed key
 * (TLS-only publishing), with email subscriptions. CloudWatch alarms and EventBridge rules can
 * publish to it (the key policy lets those services use the key).
 */
export class Monitoring extends Construct {
  /** The notification topic. */
  readonly topic: Topic;
  /** The key encrypting the topic. */
  readonly key: Key;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: 'Encrypts s1-cado-forensics notifications',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Alarms and rules publish through the service principals, which need the key: with the AWS-managed
    // SNS key they could not publish to an encrypted topic at all.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowAlarmAndRulePublishing',
        principals: [
          new ServicePrincipal('cloudwatch.amazonaws.com'),
          new ServicePrincipal('events.amazonaws.com'),
        ],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'Topic', {
      displayName: 'S1 Cado forensics',
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of props.notificationEmails ?? []) {
      this.topic.addSubscription(new EmailSubscription(email));
    }
  }

  /** Sends the alarm's ALARM and OK transitions to the topic. */
  notifyOn(alarm: AlarmBase): void {
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }

  /** Lets `grantee` publish to the topic, with exactly the KMS actions that needs. */
  grantPublish(grantee: IGrantable): Grant {
    const publish = Grant.addToPrincipal({
      grantee,
      actions: ['sns:Publish'],
      resourceArns: [this.topic.topicArn],
    });
    Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resourceArns: [this.key.keyArn],
    });
    return publish;
  }
}
