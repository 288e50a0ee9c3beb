package iamcheck

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// Call is one AWS API request as moto's recorder saw it.
type Call struct {
	// Service is the signing name from the SigV4 credential scope ("ecs", "sqs", "ec2", …).
	Service string
	// Action is the API operation ("RunTask").
	Action string
	// AccessKeyID identifies the caller, so a test can tell its own calls from the process
	// under test ("" when the request was not signed).
	AccessKeyID string
	// Region is the region of the credential scope.
	Region string
	// Params are the request parameters: the JSON body for JSON protocols, or the form
	// fields (each a string) for the query protocol.
	Params map[string]any
}

// Name is "service:Action", the IAM action name of most APIs.
func (c Call) Name() string { return c.Service + ":" + c.Action }

// recorded is one line of moto's recording (moto_api/_internal/recorder).
type recorded struct {
	Headers     map[string]string `json:"headers"`
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	Body        *string           `json:"body"`
	BodyEncoded bool              `json:"body_encoded"`
}

// ParseRecording reads moto's recording (GET /moto-api/recorder/download-recording: one JSON
// object per line) into calls, in the order they were made. A request whose operation cannot
// be told (no X-Amz-Target and no Action parameter) is an error: silently dropping it could
// hide a call the policy must allow.
func ParseRecording(r io.Reader) ([]Call, error) {
	var out []Call
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec recorded
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("iamcheck: recording line %d: %w", n, err)
		}
		c, err := rec.call()
		if err != nil {
			return nil, fmt.Errorf("iamcheck: recording line %d (%s %s): %w", n, rec.Method, rec.URL, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

func (rec recorded) header(name string) string {
	for k, v := range rec.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (rec recorded) call() (Call, error) {
	var c Call
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ecs/aws4_request, …
	if _, cred, ok := strings.Cut(rec.header("Authorization"), "Credential="); ok {
		cred, _, _ = strings.Cut(cred, ",")
		parts := strings.Split(strings.TrimSpace(cred), "/")
		if len(parts) == 5 {
			c.AccessKeyID, c.Region, c.Service = parts[0], parts[2], parts[3]
		}
	}
	var body []byte
	if rec.Body != nil {
		body = []byte(*rec.Body)
		if rec.BodyEncoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(*rec.Body); err != nil {
				return c, fmt.Errorf("body: %w", err)
			}
		}
	}
	if target := rec.header("X-Amz-Target"); target != "" {
		// JSON protocols: "AmazonEC2ContainerServiceV20141113.RunTask".
		c.Action = target[strings.LastIndex(target, ".")+1:]
		c.Params = map[string]any{}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &c.Params); err != nil {
				return c, fmt.Errorf("JSON body: %w", err)
			}
		}
		return c, nil
	}
	// Query protocol (EC2, IAM, STS): Action in the form body or the query string.
	form := url.Values{}
	if u, err := url.Parse(rec.URL); err == nil {
		form = u.Query()
	}
	if strings.HasPrefix(rec.header("Content-Type"), "application/x-www-form-urlencoded") {
		posted, err := url.ParseQuery(string(body))
		if err != nil {
			return c, fmt.Errorf("form body: %w", err)
		}
		for k, v := range posted {
			form[k] = v
		}
	}
	c.Action = form.Get("Action")
	if c.Action == "" {
		return c, fmt.Errorf("cannot tell the operation (no X-Amz-Target, no Action)")
	}
	c.Params = map[string]any{}
	for k := range form {
		c.Params[k] = form.Get(k)
	}
	return c, nil
}
