// Package cfn is the CloudFormation side of the custom resource: it parses
// the event, dispatches it by ResourceType to a Handler, and PUTs exactly one
// response to the presigned ResponseURL before the Lambda deadline.
//
// aws-lambda-go's cfn.LambdaWrap does the basics; this adapter adds what a
// stack that must never hang needs: the handler runs under a deadline that
// leaves room for two full response PUT attempts (Plan), so a hung call and a
// hung first PUT still answer FAILED; each PUT attempt ends before the
// deadline; a time-out names the call in flight (WithInFlight); a panic
// answers FAILED; secrets are kept out of Reasons and log lines
// (WithRedactor); and the body is kept within CloudFormation's 4096 bytes by
// shortening Reason, then dropping Data.
package cfn
