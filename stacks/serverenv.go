package stacks

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// What the server's containers are given besides the database's address: every value is
// a setting of Prefect 3.9.1 or prefect-redis 0.3.0, named as their settings models spell it.
const (
	// ServerDatabaseCAFile is where Dockerfile.worker puts the RDS certificate bundle
	// (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem, every region's
	// CAs): Prefect verifies the database's certificate and host name against it
	// (PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_*, prefect/server/database/
	// configurations.py: an SSL context with CERT_REQUIRED, as libpq's verify-full).
	ServerDatabaseCAFile = contract.ServerDatabaseCAFile
	// ServerUIStaticDirectory is PREFECT_UI_STATIC_DIRECTORY: the API copies the UI's
	// build there at start and serves it from there. Its default is inside the installed
	// prefect package, which the read-only root filesystem keeps from being written (the UI
	// is then not served: GET / is 404); PREFECT_HOME is a scratch volume.
	ServerUIStaticDirectory = WorkerPrefectHome + "/ui"
	// serverIdleTimeout is the load balancer's idle timeout (seconds, the ALB default made
	// explicit); serverKeepAlive is uvicorn's keep-alive (PREFECT_SERVER_API_KEEPALIVE_TIMEOUT,
	// default 5), which must outlast it: otherwise uvicorn closes a connection the load
	// balancer is about to reuse, and the request on it gets a 502.
	serverIdleTimeout = 60
	serverKeepAlive   = serverIdleTimeout + 5
	// serverRedisReadTimeout bounds a Redis read (seconds) of Prefect's messaging and cleanup
	// queue, so a primary lost with its AZ fails the read and prefect-redis reconnects (to
	// the promoted replica) instead of waiting forever; their longest blocking reads wait
	// 1 s (XREADGROUP BLOCK, the cleanup queue's pub/sub wait). serverRedisConnectTimeout
	// bounds a connect. The docket sets its own (prefect's pydocket: no read timeout on its
	// blocking reads, TCP keepalive; 10 s to connect).
	serverRedisReadTimeout    = 10
	serverRedisConnectTimeout = 5
)

// serverEnv is what a server container is configured with: the database always; the rest
// only for the API and services (the migration needs the database alone).
type serverEnv struct {
	Mode ServerMode
	// Container is contract.MigrationContainer, APIContainer or ServicesContainer.
	Container  string
	Database   ServerDatabase
	Redis      *ServerRedis
	AuthString awssecretsmanager.ISecret
	// URL is the server's URL (the UI's); the API is URL + /api. nil for the migration.
	URL *string
}

// environment is the container's plain settings: names, addresses and limits, never a secret.
func (e serverEnv) environment() map[string]*string {
	pool := serverPoolOf(e.Mode, e.Container)
	env := map[string]string{
		"PREFECT_HOME":                             WorkerPrefectHome,
		"PREFECT_SERVER_ANALYTICS_ENABLED":         "false",
		"PREFECT_SERVER_DATABASE_DRIVER":           "postgresql+asyncpg",
		"PREFECT_SERVER_DATABASE_NAME":             serverDatabaseName,
		"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
		// The connection budget (serverConnections) counts on these.
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE":    fmt.Sprint(pool.size),
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW": fmt.Sprint(pool.overflow),
		// pg_stat_activity shows which container holds a connection.
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME":   "prefect-" + e.Container,
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED":        "true",
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE":        ServerDatabaseCAFile,
		"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME": "true",
	}
	if e.Container == contract.APIContainer {
		env["PREFECT_UI_STATIC_DIRECTORY"] = ServerUIStaticDirectory
		env["PREFECT_SERVER_API_KEEPALIVE_TIMEOUT"] = fmt.Sprint(serverKeepAlive)
	}
	if e.Redis != nil {
		for k, v := range map[string]string{
			"PREFECT_MESSAGING_BROKER":                                  "prefect_redis.messaging",
			"PREFECT_MESSAGING_CACHE":                                   "prefect_redis.messaging",
			"PREFECT_SERVER_EVENTS_CAUSAL_ORDERING":                     "prefect_redis.ordering",
			"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE":                  "prefect_redis.lease_storage",
			"PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE":       "prefect_redis.cleanup_queue",
			"PREFECT_REDIS_MESSAGING_SOCKET_TIMEOUT":                    fmt.Sprint(serverRedisReadTimeout),
			"PREFECT_REDIS_MESSAGING_SOCKET_CONNECT_TIMEOUT":            fmt.Sprint(serverRedisConnectTimeout),
			"PREFECT_REDIS_WORKER_CLEANUP_QUEUE_SOCKET_TIMEOUT":         fmt.Sprint(serverRedisReadTimeout),
			"PREFECT_REDIS_WORKER_CLEANUP_QUEUE_SOCKET_CONNECT_TIMEOUT": fmt.Sprint(serverRedisConnectTimeout),
		} {
			env[k] = v
		}
	}
	out := map[string]*string{
		"PREFECT_SERVER_DATABASE_HOST": e.Database.Instance.DbInstanceEndpointAddress(),
		"PREFECT_SERVER_DATABASE_PORT": e.Database.Instance.DbInstanceEndpointPort(),
	}
	for k, v := range env {
		out[k] = jsii.String(v)
	}
	if e.URL != nil {
		// Links in notifications and automations (the services send them) point at the UI.
		out["PREFECT_UI_URL"] = e.URL
	}
	if e.URL != nil && e.Container == contract.APIContainer {
		// The UI in the browser calls this API: /ui-settings serves it.
		out["PREFECT_UI_API_URL"] = awscdk.Fn_Join(jsii.String(""), &[]*string{e.URL, jsii.String("/api")})
	}
	return out
}

// secrets is the container's ECS secrets: the database user and password, the auth string,
// and in ha the Redis URL (it carries the token) for messaging, the docket and the worker
// cleanup queue (each reads its own setting; without one, prefect-redis connects to localhost).
func (e serverEnv) secrets() map[string]awsecs.Secret {
	db := e.Database.Secret
	out := map[string]awsecs.Secret{
		"PREFECT_SERVER_DATABASE_USER":     awsecs.Secret_FromSecretsManager(db, jsii.String("username")),
		"PREFECT_SERVER_DATABASE_PASSWORD": awsecs.Secret_FromSecretsManager(db, jsii.String("password")),
	}
	if e.AuthString != nil {
		out["PREFECT_SERVER_API_AUTH_STRING"] = awsecs.Secret_FromSecretsManager(e.AuthString, nil)
	}
	if e.Redis != nil {
		for _, name := range []string{"PREFECT_REDIS_MESSAGING_URL", "PREFECT_SERVER_DOCKET_URL", "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL"} {
			out[name] = awsecs.Secret_FromSecretsManager(e.Redis.URL, nil)
		}
	}
	return out
}

// serverHealthChecks are the containers' ECS health checks, run with the image's Python (no
// curl in it) and the container's environment. The API answers /api/health (the process
// serves; the load balancer's /api/ready also checks the database). The services process
// serves no port: it is healthy while its docket worker's heartbeat, sent every 2 s from its
// event loop to Redis (pydocket's worker sorted set `prefect:workers`, member
// `<hostname>#<pid>`), is fresh; a hung loop or a lost Redis stops it. The migration exits.
var serverHealthChecks = map[string]string{
	contract.APIContainer: fmt.Sprintf(`python -c "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%d/api/health', timeout=5).status == 200 else 1)"`, contract.ServerPort),
	contract.ServicesContainer: `python -c "import os,socket,sys,time,redis; ` +
		`r = redis.Redis.from_url(os.environ['PREFECT_SERVER_DOCKET_URL'], socket_timeout=5, socket_connect_timeout=5); ` +
		`me = socket.gethostname() + '#'; ` +
		`sys.exit(0 if any(w.decode().startswith(me) for w in r.zrangebyscore('prefect:workers', time.time() - 30, '+inf')) else 1)"`,
}

// migrateCommand runs the database migration once per deploy (Custom::PrefectMigration),
// with Prefect's own alembic configuration: upgrade to this image's heads, unless the
// database holds a revision this image does not know. Then a newer Prefect migrated it (a
// CloudFormation rollback, or a version reverted in the repository, runs the older image's
// migration): alembic would fail ("Can't locate revision"), and the rollback with it; the
// schema stays as it is, and the command says so and succeeds. It never downgrades.
var migrateCommand = []string{"python", "-c", strings.Join([]string{
	"import asyncio, datetime",
	"import prefect",
	"from alembic.runtime.migration import MigrationContext",
	"from alembic.script import ScriptDirectory",
	"from prefect.server.database import provide_database_interface",
	"from prefect.server.database.alembic_commands import alembic_config, alembic_upgrade",
	"from prefect.utilities.asyncutils import run_sync_in_worker_thread",
	"def say(text):",
	"    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')",
	"    print(f'migrate: {now}: {text}', flush=True)",
	"async def main():",
	"    db = provide_database_interface()",
	"    script = ScriptDirectory.from_config(alembic_config())",
	"    script.version_locations = [str(db.orm.versions_dir)]",
	"    engine = await db.engine()",
	"    async with engine.connect() as conn:",
	"        revisions = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())",
	"    known = {r.revision for r in script.walk_revisions()}",
	"    at = ', '.join(revisions) or 'none (an empty database)'",
	"    if any(r not in known for r in revisions):",
	"        say(f'the schema is at revision {at}, which Prefect {prefect.__version__} does not know: a newer Prefect migrated it. It is left as it is (no downgrade); this version runs on it.')",
	"        return",
	"    say(f'the schema is at revision {at}; Prefect {prefect.__version__} upgrades it to {\", \".join(script.get_heads())}')",
	"    await run_sync_in_worker_thread(alembic_upgrade)",
	"    say('done')",
	"asyncio.run(main())",
}, "\n")}
