package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// StartRecording turns on moto's request recorder: from now on moto appends every AWS request
// it serves (headers and body, one JSON line each) to its recording.
func (m *MotoServer) StartRecording(ctx context.Context) error {
	_, err := m.recorder(ctx, http.MethodPost, "start-recording")
	return err
}

// Recording returns moto's recording so far (see iamcheck.ParseRecording).
func (m *MotoServer) Recording(ctx context.Context) ([]byte, error) {
	return m.recorder(ctx, http.MethodGet, "download-recording")
}

func (m *MotoServer) recorder(ctx context.Context, method, op string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, m.URL+"/moto-api/recorder/"+op, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness: moto recorder %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("harness: moto recorder %s: HTTP %d: %s", op, resp.StatusCode, b)
	}
	return b, nil
}
