package prefectyaml

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// TestScheduleKeysAreTheContracts checks that a schedules: item takes exactly the fields of
// contract.DeploymentSchedule, with its schedule's fields inline as prefect.yaml writes
// them: a field the contract gains cannot be refused here as unknown, nor one it drops kept.
func TestScheduleKeysAreTheContracts(t *testing.T) {
	var want []string
	for _, typ := range []reflect.Type{reflect.TypeFor[contract.DeploymentSchedule](), reflect.TypeFor[contract.Schedule]()} {
		for f := range typ.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.Type != reflect.TypeFor[contract.Schedule]() {
				want = append(want, name)
			}
		}
	}
	slices.Sort(want)
	if got := allowedKeys[scheduleDoc](); !slices.Equal(got, want) {
		t.Errorf("schedule keys %v, want the contract's %v", got, want)
	}
}
