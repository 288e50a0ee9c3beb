package runner

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AWS is the AWS the jobs reach through AWS_ENDPOINT_URL: moto (every service, every account)
// behind a proxy that
//   - learns from moto's STS answers which role and account each access key belongs to;
//   - refuses every call but sts:GetCallerIdentity, with AccessDenied, to a denied role and to
//     any role assumed with its credentials (a role that exists but may read nothing);
//   - answers CloudFormation's DescribeStacks and GetTemplate for the stacks it holds as
//     deployed (Deploy), because moto's CreateStack provisions every resource and cannot create
//     these templates (Lambda-backed custom resources need Docker, some types are missing);
//     for any other stack moto answers, so a stack never deployed "does not exist" as in AWS.
type AWS struct {
	// URL is the endpoint for AWS_ENDPOINT_URL.
	URL string

	moto    *url.URL
	motoCmd *exec.Cmd
	srv     *http.Server
	mu      sync.Mutex
	keys    map[string]identity
	denied  map[string]bool // accounts
	stacks  map[string]string
	calls   []Call
}

type identity struct {
	account, role, session string
	denied                 bool
}

// Call is one request the proxy saw.
type Call struct {
	Service, Action, Region, Account, Role, Stack string
	// Status is the HTTP status answered; Denied when the proxy refused it.
	Status int
	Denied bool
}

// String is "service:Action account/region role stack status".
func (c Call) String() string {
	return fmt.Sprintf("%s:%s %s/%s %s %s %d", c.Service, c.Action, c.Account, c.Region, c.Role, c.Stack, c.Status)
}

// StartAWS starts moto (motoServer is the venv's moto_server) with its log in dir, and the proxy.
func StartAWS(ctx context.Context, dir, motoServer string) (*AWS, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "moto.log"))
	if err != nil {
		return nil, err
	}
	a := &AWS{keys: map[string]identity{}, denied: map[string]bool{}, stacks: map[string]string{}}
	a.moto, _ = url.Parse("http://127.0.0.1:" + strconv.Itoa(port))
	a.motoCmd = exec.Command(motoServer, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	a.motoCmd.Stdout, a.motoCmd.Stderr = logFile, logFile
	a.motoCmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "PYTHONUNBUFFERED=1"}
	a.motoCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := a.motoCmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("runner: start %s: %w", motoServer, err)
	}
	go func() { a.motoCmd.Wait(); logFile.Close() }()
	if err := waitHTTP(ctx, a.moto.String()+"/moto-api/data.json", 90*time.Second); err != nil {
		a.Close()
		return nil, fmt.Errorf("runner: moto: %w (log %s)", err, logFile.Name())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return nil, err
	}
	a.URL = "http://" + ln.Addr().String()
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

// Close stops the proxy and moto.
func (a *AWS) Close() {
	if a.srv != nil {
		a.srv.Close()
	}
	if a.motoCmd != nil && a.motoCmd.Process != nil {
		syscall.Kill(-a.motoCmd.Process.Pid, syscall.SIGKILL)
	}
}

// DenyAccount makes every role a job assumes in account (with its OIDC token) one that may
// do nothing but GetCallerIdentity: the role exists and trusts the job, and has no permission.
func (a *AWS) DenyAccount(account string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.denied[account] = true
}

// Deploy holds template as the deployed template of stack in account and region.
func (a *AWS) Deploy(account, region, stack, template string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stacks[account+"/"+region+"/"+stack] = template
}

// Calls are the requests so far.
func (a *AWS) Calls() []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Call(nil), a.calls...)
}

// Credentials are what configure-aws-credentials exports.
type Credentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
}

// AssumeRoleWithWebIdentity is the call configure-aws-credentials makes with the job's OIDC
// token (an unsigned STS call), here with a token moto does not check.
func (a *AWS) AssumeRoleWithWebIdentity(ctx context.Context, role, region, session string) (Credentials, error) {
	return a.assume(ctx, "AssumeRoleWithWebIdentity", "", role, region, session)
}

func (a *AWS) assume(ctx context.Context, action, key, role, region, session string) (Credentials, error) {
	form := url.Values{"Action": {action}, "Version": {"2011-06-15"}, "RoleArn": {role},
		"RoleSessionName": {session}, "DurationSeconds": {"3600"}}
	if action == "AssumeRoleWithWebIdentity" {
		form.Set("WebIdentityToken", "github-oidc-token-stand-in")
	}
	b, err := a.call(ctx, key, region, "sts", form)
	if err != nil {
		return Credentials{}, err
	}
	var out struct {
		Web   Credentials `xml:"AssumeRoleWithWebIdentityResult>Credentials"`
		Plain Credentials `xml:"AssumeRoleResult>Credentials"`
	}
	err = xml.Unmarshal(b, &out)
	creds := out.Web
	if action == "AssumeRole" {
		creds = out.Plain
	}
	if err != nil || creds.AccessKeyID == "" {
		return Credentials{}, fmt.Errorf("runner: %s %s: %v: %s", action, role, err, b)
	}
	return creds, nil
}

// PutParameter writes an SSM parameter in account and region, as CDK's bootstrap stack does
// (its version, which cdk reads before using the lookup role).
func (a *AWS) PutParameter(ctx context.Context, account, region, name, value string) error {
	creds, err := a.assume(ctx, "AssumeRole", "AKIAADMINSTANDIN0000", "arn:aws:iam::"+account+":role/bootstrap-admin", region, "bootstrap")
	if err != nil {
		return err
	}
	body := fmt.Sprintf(`{"Name":%q,"Value":%q,"Type":"String","Overwrite":true}`, name, value)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "AmazonSSM.PutParameter")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", authHeader(creds.AccessKeyID, region, "ssm"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("runner: PutParameter %s in %s/%s: HTTP %d: %s", name, account, region, resp.StatusCode, b)
	}
	return nil
}

func (a *AWS) call(ctx context.Context, key, region, service string, form url.Values) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+"/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", authHeader(key, region, service))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("runner: %s %s: HTTP %d: %s", service, form.Get("Action"), resp.StatusCode, b)
	}
	return b, err
}

// authHeader is a SigV4 Authorization header whose credential scope moto reads (moto checks
// no signature).
func authHeader(key, region, service string) string {
	if key == "" {
		key = "ANONYMOUS"
	}
	return fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/20260101/%s/%s/aws4_request, SignedHeaders=host, Signature=0", key, region, service)
}

var credentialRe = regexp.MustCompile(`Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request`)

// ServeHTTP is the proxy.
func (a *AWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := Call{}
	key := ""
	if m := credentialRe.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		key, c.Region, c.Service = m[1], m[2], m[3]
	}
	form := url.Values{}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, c.Action, _ = strings.Cut(target, ".")
	} else if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		form, _ = url.ParseQuery(string(body))
		c.Action = form.Get("Action")
	}
	c.Stack = form.Get("StackName")
	a.mu.Lock()
	id, known := a.keys[key]
	a.mu.Unlock()
	c.Account, c.Role = id.account, id.role
	if _, name, ok := strings.Cut(id.role, ":role/"); ok {
		c.Role = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", id.account, name[strings.LastIndex(name, "/")+1:], id.session)
	}
	if !known {
		c.Account = "123456789012" // moto's default account
	}
	defer func() {
		a.mu.Lock()
		a.calls = append(a.calls, c)
		a.mu.Unlock()
	}()
	if id.denied && c.Action != "GetCallerIdentity" {
		c.Status, c.Denied = http.StatusForbidden, true
		writeAccessDenied(w, r, c)
		return
	}
	if c.Service == "cloudformation" && (c.Action == "DescribeStacks" || c.Action == "GetTemplate") && c.Stack != "" {
		a.mu.Lock()
		template, ok := a.stacks[c.Account+"/"+c.Region+"/"+c.Stack]
		a.mu.Unlock()
		if ok {
			c.Status = http.StatusOK
			writeStack(w, c, template)
			return
		}
	}
	status, header, respBody, err := a.forward(r, body)
	if err != nil {
		c.Status = http.StatusBadGateway
		http.Error(w, err.Error(), c.Status)
		return
	}
	c.Status = status
	if c.Service == "sts" && strings.HasPrefix(c.Action, "AssumeRole") && status == http.StatusOK {
		a.learnKey(respBody, form.Get("RoleArn"), form.Get("RoleSessionName"), id.denied || c.Action == "AssumeRoleWithWebIdentity" && a.deniedAccount(form.Get("RoleArn")))
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	w.Write(respBody)
}

func (a *AWS) forward(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := *a.moto
	u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Host = r.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	resp.Header.Del("Content-Length")
	return resp.StatusCode, resp.Header, b, err
}

func (a *AWS) deniedAccount(role string) bool {
	parts := strings.Split(role, ":")
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(parts) > 4 && a.denied[parts[4]]
}

// learnKey records the role and account of the access key in an AssumeRole* answer; a role
// assumed with denied credentials is denied too.
func (a *AWS) learnKey(resp []byte, role, session string, denied bool) {
	m := regexp.MustCompile(`<AccessKeyId>([^<]+)</AccessKeyId>`).FindSubmatch(resp)
	parts := strings.Split(role, ":")
	if m == nil || len(parts) < 5 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[string(m[1])] = identity{account: parts[4], role: role, session: session, denied: denied}
}

// writeAccessDenied answers as AWS does, in the caller's protocol.
func writeAccessDenied(w http.ResponseWriter, r *http.Request, c Call) {
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s:%s because no identity-based policy allows the %s:%s action",
		c.Role, c.Service, c.Action, c.Service, c.Action)
	if r.Header.Get("X-Amz-Target") != "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"AccessDeniedException","message":%q}`, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>%s</Message></Error><RequestId>denied-by-runner-proxy</RequestId></ErrorResponse>`, xmlEscape(msg))
}

// writeStack answers DescribeStacks or GetTemplate for a deployed stack (CloudFormation's
// query-protocol XML).
func writeStack(w http.ResponseWriter, c Call, template string) {
	ns := "http://cloudformation.amazonaws.com/doc/2010-05-15/"
	id := fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000", c.Region, c.Account, c.Stack)
	w.Header().Set("Content-Type", "text/xml")
	if c.Action == "GetTemplate" {
		fmt.Fprintf(w, `<GetTemplateResponse xmlns="%s"><GetTemplateResult><TemplateBody>%s</TemplateBody><StagesAvailable><member>Original</member><member>Processed</member></StagesAvailable></GetTemplateResult><ResponseMetadata><RequestId>deployed-stand-in</RequestId></ResponseMetadata></GetTemplateResponse>`,
			ns, xmlEscape(template))
		return
	}
	fmt.Fprintf(w, `<DescribeStacksResponse xmlns="%s"><DescribeStacksResult><Stacks><member><StackName>%s</StackName><StackId>%s</StackId><CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><DisableRollback>false</DisableRollback></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>deployed-stand-in</RequestId></ResponseMetadata></DescribeStacksResponse>`,
		ns, xmlEscape(c.Stack), xmlEscape(id))
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers below 500 (a deadline only ends a hang).
func waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("no answer from " + url)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
