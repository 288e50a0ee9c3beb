// Package resources knows what a Prefect work pool and a Prefect deployment
// are: it turns CloudFormation's string properties into validated specs and
// drives the Prefect API to create, reconcile and delete them.
//
// It knows nothing of CloudFormation events or responses (package cfn does)
// and nothing of HTTP (package prefect does); each handler's methods match
// cfn.Handler so the adapter can dispatch to them. Properties are parsed
// strictly and completely before any API call, so a typo fails the stack
// event without touching Prefect.
package resources
