// Package contract is the one definition of what the synth side (constructs/prefectcr,
// stacks/prefectyaml, stacks) and the custom-resource function (lambda/resources,
// lambda/main.go) agree on: the resource type names, the function's environment, the
// property names and their typed wire values (encoded at synth, parsed strictly by the
// function), the name rules, the schedules and their validation, the base-job-template
// placeholder rule and the Go build flags of the function.
//
// It imports only the standard library, so lambda/ builds without jsii and the CDK.
package contract
