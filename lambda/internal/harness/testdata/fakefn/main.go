// Command fakefn is a stand-in custom-resource function for the harness's own tests: it
// answers through the ResponseURL like the real one, and misbehaves on request (property
// Mode: "twice", "none", "crash") so the harness's checks can be tested.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	RequestType        string         `json:"RequestType"`
	ResponseURL        string         `json:"ResponseURL"`
	StackID            string         `json:"StackId"`
	RequestID          string         `json:"RequestId"`
	LogicalResourceID  string         `json:"LogicalResourceId"`
	PhysicalResourceID string         `json:"PhysicalResourceId"`
	ResourceProperties map[string]any `json:"ResourceProperties"`
}

func handle(ctx context.Context, ev event) (string, error) {
	mode, _ := ev.ResourceProperties["Mode"].(string)
	if mode == "crash" {
		panic("asked to crash")
	}
	phys := ev.PhysicalResourceID
	if phys == "" {
		phys = "fake-" + ev.LogicalResourceID
	}
	body, _ := json.Marshal(map[string]any{
		"Status": "SUCCESS", "RequestId": ev.RequestID, "StackId": ev.StackID,
		"LogicalResourceId": ev.LogicalResourceID, "PhysicalResourceId": phys,
		"Data": map[string]string{"ApiURL": os.Getenv("PREFECT_API_URL"), "Endpoint": os.Getenv("AWS_ENDPOINT_URL")},
	})
	n := 1
	switch mode {
	case "none":
		n = 0
	case "twice":
		n = 2
	}
	for i := 0; i < n; i++ {
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
