package resources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/retry"
)

// Tasks is the part of ECS a migration uses. The function's ECS client implements it, and
// tests substitute a fake.
type Tasks interface {
	// RunTask starts one Fargate task of m and returns its ARN.
	RunTask(ctx context.Context, m *contract.Migration, startedBy string) (taskARN string, err error)
	// DescribeTask reads the task's state and the exit of container.
	DescribeTask(ctx context.Context, cluster, taskARN, container string) (*TaskState, error)
	// StopTask stops a task that outlived the deadline.
	StopTask(ctx context.Context, cluster, taskARN, reason string) error
}

// TaskState is what a migration needs to know of a task.
type TaskState struct {
	// LastStatus is ECS's lifecycle state: PROVISIONING … RUNNING … STOPPED.
	LastStatus string
	// StopCode and StoppedReason say why a stopped task stopped.
	StopCode      string
	StoppedReason string
	// ExitCode is the container's exit code; nil when it never ran (an image pull or a
	// secret that could not be read, for example).
	ExitCode *int
	// ContainerReason is ECS's reason for the container's stop, if any.
	ContainerReason string
}

// StartedBy marks the migration's task in ECS (at most 36 characters).
const StartedBy = "prefect-ecs-cdk-migration"

// DefaultPoll is how often a running migration task is described (ECS's own waiter polls
// every 6 s).
const DefaultPoll = 6 * time.Second

// stopBudget is kept back from the handler's deadline to stop a task that is still running.
const stopBudget = 5 * time.Second

// Migrations serves Custom::PrefectMigration: the server's database migration, run as one
// ECS task when the migration task definition changes, so that it runs exactly once per
// deploy however many API tasks start. The physical id is the task definition's ARN:
// an Update with a new one runs again and returns the new id (the Delete that follows for
// the old id has nothing to undo); any other Update runs nothing. A rollback is such an
// Update too, back to the old revision: its image's migration finds a schema newer than it
// knows and leaves it (the container's command decides, not the function), so the rollback
// completes.
type Migrations struct {
	ecs   Tasks
	sleep func(context.Context, time.Duration) error
	poll  time.Duration
}

// NewMigrations returns the handler; sleep waits between polls (nil: a real timer).
func NewMigrations(ecs Tasks, sleep func(context.Context, time.Duration) error) *Migrations {
	if sleep == nil {
		sleep = retry.Sleep
	}
	return &Migrations{ecs: ecs, sleep: sleep, poll: DefaultPoll}
}

// Create runs the migration.
func (g *Migrations) Create(ctx context.Context, props map[string]any) (string, map[string]string, error) {
	m, err := contract.ParseMigration(props)
	if err != nil {
		return "", nil, err
	}
	return m.TaskDefinition, nil, g.run(ctx, m)
}

// Update runs the migration again only when the task definition (image, Prefect version,
// settings) changed.
func (g *Migrations) Update(ctx context.Context, physicalID string, props, _ map[string]any) (string, map[string]string, error) {
	m, err := contract.ParseMigration(props)
	if err != nil {
		return "", nil, err
	}
	if physicalID == m.TaskDefinition {
		return physicalID, nil, nil
	}
	return m.TaskDefinition, nil, g.run(ctx, m)
}

// Delete has nothing to undo: a schema is never migrated down.
func (g *Migrations) Delete(context.Context, string, map[string]any) error { return nil }

func (g *Migrations) run(ctx context.Context, m *contract.Migration) error {
	arn, err := g.ecs.RunTask(ctx, m, StartedBy)
	if err != nil {
		return fmt.Errorf("start the migration task: %w", err)
	}
	log := cfn.Logger(ctx)
	log.Info("migration task started", slog.String("task", arn))
	waitCtx, cancel := beforeDeadline(ctx, stopBudget)
	defer cancel()
	for {
		st, err := g.ecs.DescribeTask(waitCtx, m.Cluster, arn, m.Container)
		if err == nil && st.LastStatus == "STOPPED" {
			return verdict(arn, m.Container, st)
		}
		if err == nil {
			err = g.sleep(waitCtx, g.poll)
		}
		if err != nil && waitCtx.Err() != nil {
			// The deadline is near: stop the task, so a later retry does not race it.
			stopErr := g.ecs.StopTask(ctx, m.Cluster, arn, "the CloudFormation deploy that started it timed out")
			return errors.Join(fmt.Errorf("migration task %s was still running when the function's time ran out; it was stopped", arn), stopErr)
		}
		if err != nil {
			return fmt.Errorf("describe the migration task %s: %w", arn, err)
		}
	}
}

// verdict turns a stopped task into success (container exit 0) or an error saying why.
func verdict(arn, container string, st *TaskState) error {
	switch {
	case st.ExitCode != nil && *st.ExitCode == 0:
		return nil
	case st.ExitCode != nil:
		return fmt.Errorf("migration task %s: container %s exited with code %d; its log stream in the server's log group says why", arn, container, *st.ExitCode)
	}
	why := st.StopCode
	if st.StoppedReason != "" {
		why += ": " + st.StoppedReason
	}
	if st.ContainerReason != "" {
		why += " (" + st.ContainerReason + ")"
	}
	return fmt.Errorf("migration task %s stopped before container %s ran: %s", arn, container, why)
}

// beforeDeadline returns a context that ends budget before ctx's deadline (or with ctx when
// that leaves too little).
func beforeDeadline(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) < 2*budget {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-budget))
}
