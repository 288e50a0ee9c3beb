package serverlive

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// WS is the client end of a websocket (RFC 6455), as much as Prefect's event streams need:
// text messages out (masked), text messages in; pings are answered, a close ends ReadText.
type WS struct {
	conn net.Conn
	br   *bufio.Reader
}

// DialWS opens rawURL (ws:// or http://) with the given subprotocol.
func DialWS(ctx context.Context, rawURL, subprotocol string) (*WS, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "ws" {
		return nil, fmt.Errorf("serverlive: websocket %s: only plain ws/http is supported", rawURL)
	}
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	keyBytes := make([]byte, 16)
	_, _ = rand.Read(keyBytes)
	key := base64.StdEncoding.EncodeToString(keyBytes)
	req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{
		"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Key": {key},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Protocol": {subprotocol}}}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	ws := &WS{conn: conn, br: bufio.NewReader(conn)}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(ws.br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-Websocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("serverlive: websocket %s: HTTP %d, not an upgrade", u.Path, resp.StatusCode)
	}
	_ = conn.SetDeadline(time.Time{})
	return ws, nil
}

// Close closes the connection without a close handshake.
func (w *WS) Close() error { return w.conn.Close() }

// WriteText sends one text message.
func (w *WS) WriteText(msg []byte) error { return w.writeFrame(0x1, msg) }

func (w *WS) writeFrame(opcode byte, payload []byte) error {
	hdr := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	_, err := w.conn.Write(append(append(hdr, mask...), masked...))
	return err
}

// ErrClosed is ReadText's error once the server closed the websocket.
var ErrClosed = errors.New("serverlive: websocket closed by the server")

// ReadText returns the next text or binary message (fragments joined) before deadline.
func (w *WS) ReadText(deadline time.Time) ([]byte, error) {
	_ = w.conn.SetReadDeadline(deadline)
	var msg []byte
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(w.br, hdr[:]); err != nil {
			return nil, err
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if hdr[1]&0x80 != 0 || n > 64<<20 {
			return nil, errors.New("serverlive: websocket frame masked by the server or over 64 MiB")
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return nil, err
		}
		switch op := hdr[0] & 0x0f; op {
		case 0x8:
			return nil, fmt.Errorf("%w: %q", ErrClosed, payload)
		case 0x9:
			if err := w.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			continue
		}
		msg = append(msg, payload...)
		if hdr[0]&0x80 != 0 {
			return msg, nil
		}
	}
}
