package stacks

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// ServerMode is prefectServer: whether the app builds its own Prefect server, and how.
type ServerMode string

const (
	// ServerOff builds no server: Prefect Cloud, or the server of prefectApiUrl (the default).
	ServerOff ServerMode = "off"
	// ServerSingle is one API task that also runs the background services, on a
	// single-AZ PostgreSQL; no Redis (Prefect's in-memory messaging serves one process).
	ServerSingle ServerMode = "single"
	// ServerHA is several API tasks across AZs (--no-services), one services task, a
	// Multi-AZ PostgreSQL and a Multi-AZ Redis for messaging between the processes.
	ServerHA ServerMode = "ha"
)

// serverAPITaskCountDefault is serverApiTaskCount's default: the fewest API tasks that
// survive the loss of one task or one AZ.
const serverAPITaskCountDefault = 2

// ServerOn reports whether the app builds a Prefect server (prefectServer single or ha).
func (c Config) ServerOn() bool {
	return c.PrefectServer == ServerSingle || c.PrefectServer == ServerHA
}

// ServerHTTPS reports whether the server's load balancer serves HTTPS (serverCertificateArn).
func (c Config) ServerHTTPS() bool { return c.ServerCertificateARN != "" }

// ServerPort is the port of the server's load balancer: 443 with a certificate, else 80.
func (c Config) ServerPort() int {
	if c.ServerHTTPS() {
		return 443
	}
	return 80
}

// ServerAPITasks is the number of API tasks: serverApiTaskCount in ha, one in single (it
// also runs the services, which must run once).
func (c Config) ServerAPITasks() int {
	if c.PrefectServer == ServerHA {
		return c.ServerAPITaskCount
	}
	return 1
}

var (
	acmCertificateRe = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	domainRe         = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// serverOnly reports a server setting changed from its default while prefectServer=off,
// where it would be silently ignored.
func serverOnly(c Config, key string, v any, isDefault bool) error {
	if c.ServerOn() || isDefault {
		return nil
	}
	return fmt.Errorf("config: %s=%v has no effect with prefectServer=off: remove it, or set prefectServer=single or ha", key, v)
}

// checkPrefectServer checks prefectServer and the Prefect settings it replaces: the server
// is the API (no prefectApiUrl, no Cloud ids) and generates its own auth string.
func checkPrefectServer(c Config) error {
	m := c.PrefectServer
	switch {
	case m != ServerOff && !c.ServerOn():
		return bad("prefectServer", m, "off (no server), single (one API task, single-AZ database) or ha (API tasks across AZs, Multi-AZ database, Redis)")
	case !c.ServerOn():
		return nil
	case c.PrefectAPIURL != "":
		return fmt.Errorf("config: prefectServer=%s builds the Prefect server, so prefectApiUrl must be empty (the worker uses the server's load balancer): remove prefectApiUrl=%s, or set prefectServer=off", m, c.PrefectAPIURL)
	case c.PrefectAccountID != "" && c.PrefectAccountID != PlaceholderID || c.PrefectWorkspaceID != "" && c.PrefectWorkspaceID != PlaceholderID:
		return fmt.Errorf("config: prefectServer=%s builds a self-hosted server, not Prefect Cloud, so prefectAccountId and prefectWorkspaceId must be empty (or set prefectServer=off to use Prefect Cloud)", m)
	case c.PrefectAuthStringSecret != "":
		return fmt.Errorf("config: prefectAuthStringSecret=%s is not used with prefectServer=%s: the server stack generates the auth string in a secret of its own; remove it", c.PrefectAuthStringSecret, m)
	case c.PrefectSecretKMSKeyARN != "":
		return fmt.Errorf("config: prefectSecretKmsKeyArn=%s is not used with prefectServer=%s: the server's generated secrets use Secrets Manager's AWS-managed key; remove it", c.PrefectSecretKMSKeyARN, m)
	}
	return nil
}

// checkServerCertificate checks serverCertificateArn: an ACM certificate ARN, for a domain,
// and reachable by the worker. An internet-facing load balancer admits the worker by the
// NAT's public IPs, which the stack knows only for the NAT it creates (private mode, no
// vpcId); otherwise serverAllowedCidrs must admit the worker's public IPs.
func checkServerCertificate(c Config) error {
	arn := c.ServerCertificateARN
	switch {
	case arn == "":
		return nil
	case !acmCertificateRe.MatchString(arn):
		return bad("serverCertificateArn", arn, "an ACM certificate ARN such as arn:aws:acm:<region>:<account>:certificate/<uuid>, or empty for an internal HTTP load balancer")
	case !c.ServerOn():
		return serverOnly(c, "serverCertificateArn", arn, false)
	case c.ServerDomain == "":
		return fmt.Errorf("config: serverCertificateArn=%s needs serverDomain, the name the certificate covers: the worker and the UI use it (no certificate matches the load balancer's own DNS name)", arn)
	case (c.NetworkMode == NetworkPublic || c.VpcID != "") && len(c.ServerAllowedCidrs) == 0:
		return fmt.Errorf("config: serverCertificateArn makes the load balancer internet-facing, and with %s the worker reaches it from public IPs the stack does not know: list them (or your NAT's) in serverAllowedCidrs, or leave serverCertificateArn empty for an internal load balancer", publicSource(c))
	}
	return nil
}

// publicSource names why the worker's public IPs are unknown, for checkServerCertificate.
func publicSource(c Config) string {
	if c.NetworkMode == NetworkPublic {
		return "networkMode=public"
	}
	return "vpcId=" + c.VpcID
}

// checkServerDomain checks serverDomain: a DNS name, served over HTTPS only.
func checkServerDomain(c Config) error {
	d := c.ServerDomain
	switch {
	case d == "":
		return nil
	case !domainRe.MatchString(d):
		return bad("serverDomain", d, "a lowercase DNS name such as prefect.example.com (no scheme, no path)")
	case !c.ServerOn():
		return serverOnly(c, "serverDomain", d, false)
	case c.ServerCertificateARN == "":
		return fmt.Errorf("config: serverDomain=%s needs serverCertificateArn: the load balancer serves a domain over HTTPS only (without both it is internal and reached by its own DNS name)", d)
	}
	return nil
}

// checkServerCidrs checks serverAllowedCidrs: IPv4 network addresses.
func checkServerCidrs(c Config) error {
	for _, cidr := range c.ServerAllowedCidrs {
		ip, n, err := net.ParseCIDR(cidr)
		if err != nil || ip.To4() == nil {
			return bad("serverAllowedCidrs", cidr, "IPv4 CIDR blocks such as 10.20.0.0/16 or 203.0.113.7/32")
		}
		if !ip.Equal(n.IP) {
			return bad("serverAllowedCidrs", cidr, fmt.Sprintf("a network address (did you mean %s?)", n))
		}
	}
	return serverOnly(c, "serverAllowedCidrs", strings.Join(c.ServerAllowedCidrs, ","), len(c.ServerAllowedCidrs) == 0)
}

// checkServerAPITaskCount checks serverApiTaskCount: 2 to 10 in ha; single runs one task,
// which also runs the services, so another value there would be ignored.
func checkServerAPITaskCount(c Config) error {
	n := c.ServerAPITaskCount
	switch c.PrefectServer {
	case ServerHA:
		return want(n >= 2 && n <= 10, "serverApiTaskCount", n, "2 to 10 API tasks (ha must survive the loss of one task or one AZ)")
	case ServerSingle:
		if n != serverAPITaskCountDefault {
			return fmt.Errorf("config: serverApiTaskCount=%d has no effect with prefectServer=single (one API task, which also runs the services): remove it, or set prefectServer=ha", n)
		}
		return nil
	}
	return serverOnly(c, "serverApiTaskCount", n, n == serverAPITaskCountDefault)
}

// cidrList parses a list of strings: a JSON array from cdk.json, or from `-c` a JSON array
// or a comma-separated list ("" is the empty list).
func cidrList(field func(*Config) *[]string) parser {
	return bind(field, func(key string, raw any) ([]string, error) {
		if s, ok := raw.(string); ok {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "[") {
				var list []any
				if err := json.Unmarshal([]byte(s), &list); err != nil {
					return nil, bad(key, s, `a JSON array of CIDR strings, e.g. ["10.20.0.0/16"], or a comma-separated list`)
				}
				raw = list
			} else {
				out := []string{}
				for _, part := range strings.Split(s, ",") {
					if part = strings.TrimSpace(part); part != "" {
						out = append(out, part)
					}
				}
				return out, nil
			}
		}
		list, ok := raw.([]any)
		if !ok {
			return nil, bad(key, shown(raw), `an array of CIDR strings, e.g. ["10.20.0.0/16"]`)
		}
		out := make([]string, 0, len(list))
		for _, v := range list {
			s, ok := v.(string)
			if !ok {
				return nil, bad(key, shown(v), "a CIDR string")
			}
			out = append(out, strings.TrimSpace(s))
		}
		return out, nil
	})
}
