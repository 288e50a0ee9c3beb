package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ObserverProps name the cluster whose tasks the worker's observer follows.
type ObserverProps struct {
	Cluster awsecs.ICluster
}

// Observer carries ECS task state changes of the cluster to the worker, which marks runs
// whose tasks stopped (OOM, image pull failure…) as crashed instead of leaving them Running.
type Observer struct {
	// Queue is what the worker reads (by name) and consumes.
	Queue awssqs.IQueue
	// Rule sends the cluster's task state changes to Queue.
	Rule awsevents.IRule
}

// NewObserver adds the queue ObserverQueue and the rule TaskStateChanges to scope.
func NewObserver(scope constructs.Construct, props ObserverProps) Observer {
	queue := awssqs.NewQueue(scope, jsii.String("ObserverQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(1)),
	})
	rule := awsevents.NewRule(scope, jsii.String("TaskStateChanges"), &awsevents.RuleProps{
		Description: jsii.String("ECS task state changes of the Prefect cluster, for the worker's observer"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ecs"),
			DetailType: jsii.Strings("ECS Task State Change"),
			Detail:     &map[string]interface{}{"clusterArn": []interface{}{props.Cluster.ClusterArn()}},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewSqsQueue(queue, nil)},
	})
	return Observer{Queue: queue, Rule: rule}
}
