// Command fakefn is a stand-in custom-resource function for the harness's own tests: it
// answers through the ResponseURL like the real one (with lambda/cfn's event and response),
// and misbehaves on request (property Mode: "twice", "none", "crash") so the harness's
// checks can be tested.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/cfn"
)

func handle(ctx context.Context, raw json.RawMessage) (string, error) {
	ev, err := cfn.ParseEvent(raw)
	if err != nil {
		return "", err
	}
	mode, _ := ev.ResourceProperties["Mode"].(string)
	if mode == "crash" {
		panic("asked to crash")
	}
	phys := ev.PhysicalResourceID
	if phys == "" {
		phys = "fake-" + ev.LogicalResourceID
	}
	body := cfn.EncodeResponse(cfn.Response{Status: cfn.StatusSuccess, RequestID: ev.RequestID, StackID: ev.StackID,
		LogicalResourceID: ev.LogicalResourceID, PhysicalResourceID: phys,
		Data: map[string]string{"ApiURL": os.Getenv("PREFECT_API_URL"), "Endpoint": os.Getenv("AWS_ENDPOINT_URL")}})
	n := 1
	switch mode {
	case "none":
		n = 0
	case "twice":
		n = 2
	}
	for range n {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, ev.ResponseURL, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("PUT: %d", resp.StatusCode)
		}
	}
	return "ok", nil
}

func main() { lambda.Start(handle) }
