package contract

import "strconv"

// Property names of Custom::PrefectWorkPool (Name, Description, Paused and
// ConcurrencyLimit are shared with Custom::PrefectDeployment).
const (
	PropName             = "Name"
	PropType             = "Type"
	PropDescription      = "Description"
	PropPaused           = "Paused"
	PropConcurrencyLimit = "ConcurrencyLimit"
	PropBaseJobTemplate  = "BaseJobTemplate"
)

// PoolTypeECS is the only work pool type the function manages.
const PoolTypeECS = "ecs"

// WorkPool is the typed property set of a Custom::PrefectWorkPool. On the wire every leaf
// is a string: Paused is "true" or "false", ConcurrencyLimit a base-10 integer and
// BaseJobTemplate a JSON object.
type WorkPool struct {
	Name string
	Type string
	// Description is always sent; "" is the same as none.
	Description string
	Paused      bool
	// ConcurrencyLimit is nil for no limit.
	ConcurrencyLimit *int
	BaseJobTemplate  map[string]any
}

// Properties encodes w as the resource's properties. tokenJSON encodes the template; the
// synth side passes the stack's JSON serializer so that tokens inside it resolve.
func (w WorkPool) Properties(tokenJSON func(any) string) map[string]any {
	m := map[string]any{
		PropName:            w.Name,
		PropType:            w.Type,
		PropDescription:     w.Description,
		PropPaused:          strconv.FormatBool(w.Paused),
		PropBaseJobTemplate: tokenJSON(w.BaseJobTemplate),
	}
	if w.ConcurrencyLimit != nil {
		m[PropConcurrencyLimit] = strconv.Itoa(*w.ConcurrencyLimit)
	}
	return m
}

// Check reports every problem of w that does not depend on the wire encoding: the pool
// name rule, the type and the base job template rule, as "Property: problem" lines.
func (w WorkPool) Check() []string {
	var problems []string
	if w.Name != "" {
		if err := CheckPoolName(w.Name); err != nil {
			problems = append(problems, PropName+": "+err.Error())
		}
	}
	if w.Type != "" && w.Type != PoolTypeECS {
		problems = append(problems, PropType+": want \""+PoolTypeECS+"\", got "+Quote(w.Type))
	}
	if w.BaseJobTemplate != nil {
		for _, problem := range CheckBaseJobTemplate(w.BaseJobTemplate) {
			problems = append(problems, PropBaseJobTemplate+": "+problem)
		}
	}
	return problems
}

// ParseWorkPool reads Custom::PrefectWorkPool properties (ServiceToken and ServiceTimeout
// already removed) strictly and reports every problem at once.
func ParseWorkPool(m map[string]any) (*WorkPool, error) {
	p := newProps(m)
	w := &WorkPool{
		Name:        p.str(PropName),
		Type:        p.str(PropType),
		Description: p.optStr(PropDescription),
		Paused:      p.boolean(PropPaused),
	}
	w.BaseJobTemplate = p.jsonObject(PropBaseJobTemplate, true)
	w.ConcurrencyLimit = p.integer(PropConcurrencyLimit, 0)
	p.problems = append(p.problems, w.Check()...)
	if err := p.done(WorkPoolType); err != nil {
		return nil, err
	}
	return w, nil
}
