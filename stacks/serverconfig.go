package stacks

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
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

// serverDatabaseClassDefault is serverDatabaseInstanceClass's default: the smallest Graviton
// class that runs PostgreSQL 16.
const serverDatabaseClassDefault = "db.t4g.micro"

// serverDatabaseClasses are the instance classes serverDatabaseInstanceClass offers, smallest
// first, with their memory (AWS RDS User Guide, "DB instance class specifications": db.t4g).
var serverDatabaseClasses = []struct {
	name      string
	memoryGiB int
}{{"db.t4g.micro", 1}, {"db.t4g.small", 2}, {"db.t4g.medium", 4}, {"db.t4g.large", 8}}

// serverConnectionLimit is how many connections a database of class leaves the server's
// processes, or -1 for a class not offered. RDS for PostgreSQL's default max_connections is
// LEAST({DBInstanceClassMemory/9531392}, 5000) (AWS RDS User Guide, "Quotas and constraints
// for Amazon RDS", Maximum number of database connections). DBInstanceClassMemory is the
// class's memory less what RDS keeps for the operating system and its own processes (RDS
// User Guide, "DB parameter formula variables"), so the default lies below the formula on
// the class's nominal memory: the budget plans with 70% of that memory. Of max_connections,
// superuser_reserved_connections (3) and rds.rds_superuser_reserved_connections (2) are not
// available to other users (AWS Knowledge Center, "rds-postgresql-error-connection-slots"),
// which keeps them for an operator's psql.
func serverConnectionLimit(class string) int {
	for _, c := range serverDatabaseClasses {
		if c.name == class {
			return min(int(0.7*float64(c.memoryGiB)*(1<<30)/9531392), 5000) - 3 - 2
		}
	}
	return -1
}

// serverPool is one server process's database pool: SQLAlchemy's pool_size and max_overflow
// (PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE and _MAX_OVERFLOW, Prefect's defaults 5 and
// 10) for each of its engines.
type serverPool struct{ size, overflow, engines int }

// max is the most connections the process can hold.
func (p serverPool) max() int { return p.engines * (p.size + p.overflow) }

// serverPools are the pools of the server's containers: an API process serves requests,
// which hold a connection for the request's length (the pool queues the rest for up to
// pool_timeout, 30 s); the services run about fifteen loops at once, and in single mode
// inside the API process; the migration opens the application's engine (to read the
// schema's revision) and alembic's own.
var serverPools = map[string]serverPool{
	contract.APIContainer:       {size: 4, overflow: 4, engines: 1},
	contract.ServicesContainer:  {size: 5, overflow: 10, engines: 1},
	contract.MigrationContainer: {size: 1, overflow: 1, engines: 2},
}

// serverPoolOf is the pool of container in mode m: the single API process also runs the
// services, and gets their pool.
func serverPoolOf(m ServerMode, container string) serverPool {
	if m == ServerSingle && container == contract.APIContainer {
		return serverPools[contract.ServicesContainer]
	}
	return serverPools[container]
}

// serverRollout is a service's task count and how ECS replaces its tasks in a deploy.
type serverRollout struct {
	count                  int
	minHealthy, maxHealthy float64
}

// peak is the most tasks of the service during a deploy: ECS runs at most the desired count
// × maximumPercent / 100, rounded down (Amazon ECS Developer Guide, "Deployment
// configuration": maximumPercent).
func (r serverRollout) peak() int { return int(float64(r.count) * r.maxHealthy / 100) }

// serverRollouts are the API and services services' rollouts. ha keeps every API task
// serving while the new ones start (100%/200%). single never runs two servers: each would
// run every background service with in-memory messaging and leases (scheduled runs created
// twice, leases of running flows lost), so ECS stops the old task before starting the new
// (0%/100%): a deploy has a minute or two without the API. One services task, the same way.
func serverRollouts(c Config) (api, services serverRollout) {
	services = serverRollout{count: 1, minHealthy: 0, maxHealthy: 100}
	if c.PrefectServer == ServerHA {
		return serverRollout{count: c.ServerAPITaskCount, minHealthy: 100, maxHealthy: 200}, services
	}
	return serverRollout{count: 1, minHealthy: 0, maxHealthy: 100}, services
}

// serverConnections is the most database connections the server's processes may hold at
// once, and how: the larger of a deploy's two moments, the migration task beside the running
// API and services tasks, and the API rollout's peak beside the services task (the services
// service never overlaps itself).
func serverConnections(c Config) (int, string) {
	api, svc := serverRollouts(c)
	apiPool := serverPoolOf(c.PrefectServer, contract.APIContainer).max()
	svcTasks, svcPool := 0, 0
	if c.PrefectServer == ServerHA {
		svcTasks, svcPool = svc.count, serverPoolOf(c.PrefectServer, contract.ServicesContainer).max()
	}
	migrate := serverPoolOf(c.PrefectServer, contract.MigrationContainer).max()
	services := ""
	if svcTasks > 0 {
		services = fmt.Sprintf(", + %d services task × %d", svcTasks, svcPool)
	}
	migrating := api.count*apiPool + svcTasks*svcPool + migrate
	rolling := api.peak()*apiPool + svcTasks*svcPool
	if migrating > rolling {
		return migrating, fmt.Sprintf("%d API tasks × %d%s, + the migration's %d", api.count, apiPool, services, migrate)
	}
	return rolling, fmt.Sprintf("%d API tasks × %d while new tasks start beside the old%s", api.peak(), apiPool, services)
}

// checkServerDatabase checks serverDatabaseInstanceClass, and that the server's connections
// fit the class: a process that cannot connect fails its requests or its services, and a
// deploy that overflows the database fails half-way. Too many connections names
// serverApiTaskCount (what a user raises) and both ways out.
func checkServerDatabase(c Config) error {
	class := c.ServerDatabaseInstanceClass
	limit := serverConnectionLimit(class)
	var names []string
	for _, dc := range serverDatabaseClasses {
		names = append(names, dc.name)
	}
	switch {
	case limit < 0:
		return bad("serverDatabaseInstanceClass", class, strings.Join(names, ", "))
	case !c.ServerOn():
		return serverOnly(c, "serverDatabaseInstanceClass", class, class == serverDatabaseClassDefault)
	case checkServerAPITaskCount(c) != nil:
		return nil // its own error says what is wrong
	}
	need, how := serverConnections(c)
	if need <= limit {
		return nil
	}
	fix := ""
	if c.PrefectServer == ServerHA {
		for n := c.ServerAPITaskCount - 1; n >= 2; n-- {
			fewer := c
			fewer.ServerAPITaskCount = n
			if got, _ := serverConnections(fewer); got <= limit {
				fix = fmt.Sprintf("set serverApiTaskCount to at most %d, or ", n)
				break
			}
		}
	}
	for _, dc := range serverDatabaseClasses {
		if serverConnectionLimit(dc.name) >= need {
			fix += fmt.Sprintf("serverDatabaseInstanceClass=%s (room for %d)", dc.name, serverConnectionLimit(dc.name))
			return fmt.Errorf("config: serverApiTaskCount=%d needs up to %d database connections during a deploy (%s), more than serverDatabaseInstanceClass=%s leaves the server (%d): %s",
				c.ServerAPITaskCount, need, how, class, limit, fix)
		}
	}
	return fmt.Errorf("config: serverApiTaskCount=%d needs up to %d database connections during a deploy (%s), more than any serverDatabaseInstanceClass leaves the server: lower serverApiTaskCount", c.ServerAPITaskCount, need, how)
}
