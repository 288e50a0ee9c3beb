// Package cfn is the CloudFormation side of the custom resource: it parses
// the event, dispatches it by ResourceType to a Handler, and PUTs exactly one
// response to the presigned ResponseURL before the Lambda deadline.
//
// aws-lambda-go's cfn.LambdaWrap does the basics; this adapter adds what a
// stack that must never hang needs: the handler runs under a deadline that
// ends a safety margin before Lambda's, so a hung call still answers FAILED;
// a panic answers FAILED; the response PUT is retried; and the body is kept
// within CloudFormation's 4096 bytes by shortening Reason, then dropping Data.
package cfn
