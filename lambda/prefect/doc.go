// Package prefect is a small client for the Prefect 3 REST API, written for a
// CloudFormation custom resource that runs inside a Lambda deadline.
//
// It knows HTTP and nothing about CloudFormation: the base URL (Prefect Cloud
// workspace or self-hosted server), the Authorization header, JSON in and out,
// and one retry policy. Requests that fail with 429, a 5xx other than 501, or a
// network error are retried with exponential backoff and jitter (429 honours
// Retry-After), and no wait is ever started that would end after the context
// deadline: the client returns the last error instead, so the caller still has
// time to report it. Other 4xx answers fail at once as *APIError.
package prefect
