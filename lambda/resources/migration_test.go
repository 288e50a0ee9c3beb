package resources

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

const (
	migCluster = "arn:aws:ecs:us-east-1:123456789012:cluster/PrefectServer-Cluster"
	migTaskDef = "arn:aws:ecs:us-east-1:123456789012:task-definition/PrefectServerMigrate:3"
	migTask    = "arn:aws:ecs:us-east-1:123456789012:task/PrefectServer-Cluster/0123456789abcdef"
)

func migrationProps(taskDef string) map[string]any {
	return contract.Migration{
		Cluster: migCluster, TaskDefinition: taskDef, Container: contract.MigrationContainer,
		Subnets: []string{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}, SecurityGroups: []string{"sg-0123456789abcdef0"},
	}.Properties(func(v any) string { b, _ := json.Marshal(v); return string(b) })
}

// fakeTasks is ECS: each task runs for `polls` describes, then stops as `stopped` says.
type fakeTasks struct {
	mu      sync.Mutex
	runs    []*contract.Migration
	polls   int
	stopped TaskState
	runErr  error
	stops   []string
	seen    int
}

func (f *fakeTasks) RunTask(_ context.Context, m *contract.Migration, startedBy string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if startedBy != StartedBy {
		return "", errors.New("unexpected startedBy " + startedBy)
	}
	if f.runErr != nil {
		return "", f.runErr
	}
	f.runs = append(f.runs, m)
	return migTask, nil
}

func (f *fakeTasks) DescribeTask(_ context.Context, cluster, arn, container string) (*TaskState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cluster != migCluster || arn != migTask || container != contract.MigrationContainer {
		return nil, errors.New("describe of the wrong task")
	}
	f.seen++
	if f.polls >= 0 && f.seen > f.polls {
		st := f.stopped
		st.LastStatus = "STOPPED"
		return &st, nil
	}
	return &TaskState{LastStatus: "RUNNING"}, nil
}

func (f *fakeTasks) StopTask(_ context.Context, _, arn, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, arn)
	return nil
}

func exit(code int) *int { return &code }

func TestMigrationRunsOncePerTaskDefinition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ecs := &fakeTasks{polls: 3, stopped: TaskState{StopCode: "EssentialContainerExited", ExitCode: exit(0)}}
		g := NewMigrations(ecs, nil)
		ctx := context.Background()
		start := time.Now()
		id, _, err := g.Create(ctx, migrationProps(migTaskDef))
		if err != nil || id != migTaskDef {
			t.Fatalf("Create = %q, %v; want the task definition ARN", id, err)
		}
		if got := time.Since(start); got != 3*DefaultPoll {
			t.Errorf("waited %v, want 3 polls of %v", got, DefaultPoll)
		}
		if len(ecs.runs) != 1 || ecs.runs[0].Subnets[1] != "subnet-0fedcba9876543210" {
			t.Fatalf("runs = %+v", ecs.runs)
		}
		// Same task definition (a tag or subnet change elsewhere): nothing runs.
		if id, _, err := g.Update(ctx, migTaskDef, migrationProps(migTaskDef), nil); err != nil || id != migTaskDef || len(ecs.runs) != 1 {
			t.Fatalf("Update with the same task definition = %q, %v, %d runs; want no run", id, err, len(ecs.runs))
		}
		// A new upstream fingerprint (the Network stack changed): nothing runs either.
		upstream := migrationProps(migTaskDef)
		upstream[contract.PropUpstream] = "0123456789abcdef"
		if id, _, err := g.Update(ctx, migTaskDef, upstream, nil); err != nil || id != migTaskDef || len(ecs.runs) != 1 {
			t.Fatalf("Update with a new Upstream = %q, %v, %d runs; want no run", id, err, len(ecs.runs))
		}
		// A new image or Prefect version is a new revision: it runs once more.
		next := strings.TrimSuffix(migTaskDef, "3") + "4"
		ecs.seen = 0
		if id, _, err := g.Update(ctx, migTaskDef, migrationProps(next), nil); err != nil || id != next || len(ecs.runs) != 2 {
			t.Fatalf("Update with a new revision = %q, %v, %d runs; want a second run", id, err, len(ecs.runs))
		}
		if err := g.Delete(ctx, migTaskDef, nil); err != nil || len(ecs.runs) != 2 {
			t.Fatalf("Delete = %v; want nothing run", err)
		}
	})
}

// CloudFormation rolls an upgrade back with an Update whose properties are the old ones and
// whose physical id is the new revision: the old revision's task runs (the old image's
// migration then leaves the newer schema alone, serverlive's TestMigrationRollbackDrill), and
// the resource returns to the old id.
func TestMigrationRollbackRunsTheOldRevision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ecs := &fakeTasks{polls: 1, stopped: TaskState{StopCode: "EssentialContainerExited", ExitCode: exit(0)}}
		next := strings.TrimSuffix(migTaskDef, "3") + "4"
		id, _, err := NewMigrations(ecs, nil).Update(context.Background(), next, migrationProps(migTaskDef), migrationProps(next))
		if err != nil || id != migTaskDef {
			t.Fatalf("rollback Update = %q, %v; want the old task definition", id, err)
		}
		if len(ecs.runs) != 1 || ecs.runs[0].TaskDefinition != migTaskDef {
			t.Fatalf("runs = %+v; want one of the old revision", ecs.runs)
		}
	})
}

func TestMigrationFailuresSayWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		ecs  *fakeTasks
		want []string
	}{
		{"exit code", &fakeTasks{stopped: TaskState{StopCode: "EssentialContainerExited", ExitCode: exit(1)}},
			[]string{migTask, "container migrate exited with code 1", "log"}},
		{"never ran", &fakeTasks{stopped: TaskState{StopCode: "TaskFailedToStart", StoppedReason: "ResourceInitializationError: unable to pull secrets", ContainerReason: "CannotPullContainerError"}},
			[]string{"stopped before container migrate ran", "TaskFailedToStart: ResourceInitializationError: unable to pull secrets (CannotPullContainerError)"}},
		{"not started", &fakeTasks{runErr: errors.New("ClusterNotFoundException")},
			[]string{"start the migration task: ClusterNotFoundException"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				_, _, err := NewMigrations(tc.ecs, nil).Create(context.Background(), migrationProps(migTaskDef))
				if err == nil {
					t.Fatal("Create succeeded")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			})
		})
	}
}

// A migration still running when the function's time is nearly up is stopped (so a retried
// deploy does not run two at once) and the deploy fails, with time left to answer.
func TestMigrationOutlivingTheDeadlineIsStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ecs := &fakeTasks{polls: -1}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		_, _, err := NewMigrations(ecs, nil).Create(ctx, migrationProps(migTaskDef))
		if err == nil || !strings.Contains(err.Error(), "still running when the function's time ran out") {
			t.Fatalf("Create = %v; want the time-out error", err)
		}
		if len(ecs.stops) != 1 || ecs.stops[0] != migTask {
			t.Errorf("stopped %v, want the migration task", ecs.stops)
		}
		if left := 10*time.Minute - time.Since(start); left != stopBudget {
			t.Errorf("gave up with %v left, want %v", left, stopBudget)
		}
	})
}

func TestMigrationPropertiesAreChecked(t *testing.T) {
	props := map[string]any{
		contract.PropCluster: "my-cluster", contract.PropTaskDefinition: migTaskDef, contract.PropContainer: "migrate",
		contract.PropSubnets: `["subnet-0123456789abcdef0", "vpc-01234567"]`, "Extra": "x",
	}
	ecs := &fakeTasks{}
	_, _, err := NewMigrations(ecs, nil).Create(context.Background(), props)
	var bad *contract.InvalidPropertiesError
	if !errors.As(err, &bad) {
		t.Fatalf("Create = %v; want InvalidPropertiesError", err)
	}
	for _, w := range []string{"Cluster: want an ECS cluster ARN", "Subnets: item 1: want a subnet-… id", "SecurityGroups: want at least one sg id", `"Extra": unknown property`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if len(ecs.runs) != 0 {
		t.Error("a task ran for invalid properties")
	}
}
