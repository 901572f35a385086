package analytics

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sluicehq/sluice/schemas"
)

// ClickHouseConfig says where the mirror writes.
type ClickHouseConfig struct {
	Addr     string // native protocol host:port, required
	Database string // default "sluice"
	Username string // default "default"
	// Password is asked for on every OpenClickHouse (a rotated file takes
	// effect on the next connection pool); nil means none. A func, not a
	// string, so the config prints without it.
	Password Password
	// TLS, if set, speaks the native protocol over TLS (ClickHouse's
	// tcp_port_secure, 9440 by default).
	TLS *tls.Config
}

// Password returns the ClickHouse password. It is a func so a secret
// store's reader (secure.Secret.Value) can be passed in without
// this package importing it; fmt prints it as [redacted].
type Password func() (string, error)

func (Password) String() string   { return "[redacted]" }
func (Password) GoString() string { return "[redacted]" }

// MarshalText keeps it out of JSON and YAML dumps of a config too.
func (Password) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *ClickHouseConfig) setDefaults() {
	if c.Database == "" {
		c.Database = "sluice"
	}
	if c.Username == "" {
		c.Username = "default"
	}
}

// Validate reports every problem at once.
func (c *ClickHouseConfig) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("clickhouse: no address (set --clickhouse host:9000)"))
	}
	if c.Database != "" && !identRe.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("clickhouse: database %q is not a plain identifier", c.Database))
	}
	return errors.Join(errs...)
}

// ClickHouse is the Store on clickhouse-go/v2's native protocol.
type ClickHouse struct {
	conn driver.Conn
	eng  engine // the native protocol over conn; chDB in tests
	db   string
}

// engine is what migrations, prices, inserts and dashboard queries need of
// a ClickHouse. In production it is the native protocol; the tests also run
// the same code on chDB, a current ClickHouse in process (chdb_test.go),
// so the schema is checked on 18.16 and on a current release alike.
type engine interface {
	exec(ctx context.Context, stmt string) error
	// insert writes rows in one block; into is "db.table (col, ...)".
	insert(ctx context.Context, into string, rows [][]any) error
	query(ctx context.Context, sql string) (Table, error)
	close() error
}

// native is the engine on clickhouse-go's native protocol.
type native struct{ conn driver.Conn }

func (n native) exec(ctx context.Context, stmt string) error { return n.conn.Exec(ctx, stmt) }

func (n native) close() error { return n.conn.Close() }

// insert sends a batch, never Exec with VALUES: 18.16 waits for a data
// block after an INSERT that clickhouse-go's Exec never sends. 18.16 also
// needs the column list spelled out.
func (n native) insert(ctx context.Context, into string, rows [][]any) error {
	b, err := n.conn.PrepareBatch(ctx, "INSERT INTO "+into)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			_ = b.Abort()
			return err
		}
	}
	return b.Send()
}

func (n native) query(ctx context.Context, sql string) (Table, error) {
	return n.queryArgs(ctx, sql)
}

// OpenClickHouse connects and pings.
func OpenClickHouse(ctx context.Context, cfg ClickHouseConfig) (*ClickHouse, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var pw string
	if cfg.Password != nil {
		var err error
		if pw, err = cfg.Password(); err != nil {
			return nil, fmt.Errorf("clickhouse password: %w", err)
		}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{cfg.Addr},
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.Username, Password: pw},
		TLS:         cfg.TLS,
		DialTimeout: 5 * time.Second,
		ReadTimeout: time.Minute, // fail fast instead of the driver's 5 minutes
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", cfg.Addr, err)
	}
	return &ClickHouse{conn: conn, eng: native{conn}, db: cfg.Database}, nil
}

// Close closes the connection pool.
func (c *ClickHouse) Close() error { return c.eng.close() }

// Conn exposes the connection for queries (dashboards, tests).
func (c *ClickHouse) Conn() driver.Conn { return c.conn }

// Database is the database the tables live in.
func (c *ClickHouse) Database() string { return c.db }

// Migrate applies every embedded migration not yet recorded in
// schema_migrations; running it again is a no-op.
func (c *ClickHouse) Migrate(ctx context.Context) (applied []string, err error) {
	return c.migrate(ctx, math.MaxInt)
}

// migrate applies the migrations up to version upTo (tests: an older install).
func (c *ClickHouse) migrate(ctx context.Context, upTo int) (applied []string, err error) {
	if err := c.eng.exec(ctx, "CREATE DATABASE IF NOT EXISTS "+c.db); err != nil {
		return nil, err
	}
	if err := c.eng.exec(ctx, `CREATE TABLE IF NOT EXISTS `+c.db+`.schema_migrations
(version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version`); err != nil {
		return nil, err
	}
	done := map[uint32]bool{}
	t, err := c.eng.query(ctx, "SELECT version FROM "+c.db+".schema_migrations")
	if err != nil {
		return nil, err
	}
	for _, r := range t.Rows {
		v, ok := r[0].(uint32)
		if !ok {
			return nil, fmt.Errorf("schema_migrations: version %T %v, want UInt32", r[0], r[0])
		}
		done[v] = true
	}
	ms, err := schemas.Migrations(c.db)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if done[uint32(m.Version)] || m.Version > upTo {
			continue
		}
		for _, stmt := range m.Statements {
			if err := c.eng.exec(ctx, stmt); err != nil {
				return applied, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
		}
		if err := c.insertOne(ctx, "schema_migrations (version, name, applied_at)", uint32(m.Version), m.Name, time.Now().UTC()); err != nil {
			return applied, err
		}
		applied = append(applied, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return applied, nil
}

// ClickHouse 18.16 needs the column list spelled out in batch inserts.
const insertEvents = `%s.history_events (namespace, workflow_id, workflow_type, run_id, event_id,
 event_type, event_time, event_time_us, task_queue, activity_type, attempt, signal_name, payload_bytes,
 payload_hash, failure_class, kafka_topic, kafka_partition, kafka_first_offset, kafka_last_offset,
 batch_events, first_produced_us, mirrored_at, scheduled_event_id, activity_id, marker_name, actions,
 extract_keys, extract_values, tenant, kafka_event_types)`

// InsertEvents implements Store with one native batch insert.
func (c *ClickHouse) InsertEvents(ctx context.Context, rows []EventRow) error {
	if len(rows) == 0 {
		return nil
	}
	now := time.Now().UTC()
	vals := make([][]any, len(rows))
	for i := range rows {
		r := &rows[i]
		vals[i] = []any{r.Namespace, r.WorkflowID, r.WorkflowType, r.RunID, r.EventID,
			r.EventType, r.EventTime, r.EventTime.UnixMicro(), r.TaskQueue, r.ActivityType, r.Attempt,
			r.SignalName, r.PayloadBytes, r.PayloadHash, r.FailureClass, r.KafkaTopic, r.KafkaPartition,
			r.KafkaFirstOffset, r.KafkaLastOffset, r.BatchEvents, r.FirstProducedUs, now,
			r.ScheduledEventID, r.ActivityID, r.MarkerName, r.Actions, nonNil(r.ExtractKeys), nonNil(r.ExtractValues), r.Tenant, nonNil(r.KafkaEventTypes)}
	}
	return c.eng.insert(ctx, fmt.Sprintf(insertEvents, c.db), vals)
}

// Cursors implements Store.
func (c *ClickHouse) Cursors(ctx context.Context, namespace string) (map[string]int64, error) {
	rows, err := c.conn.Query(ctx, "SELECT run_id, max(event_id) FROM "+c.db+".history_events WHERE namespace = ? GROUP BY run_id", namespace)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var run string
		var id int64
		if err := rows.Scan(&run, &id); err != nil {
			return nil, err
		}
		out[run] = id
	}
	return out, rows.Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DefaultActionPrice is Temporal Cloud's list price per million actions
// used until `sluice migrate --action-price` sets yours (check your
// contract: volume tiers and credits lower it).
const DefaultActionPrice = 50.0

// DefaultLLMPrices are per-million-token list prices seeded for models
// that have none yet; set current ones with `sluice migrate --llm-price`.
var DefaultLLMPrices = map[string][2]float64{
	"sluice-offline-1": {0, 0},
	"gpt-4o-mini":      {0.15, 0.60},
	"gpt-4o":           {2.50, 10.00},
	"gpt-4.1-mini":     {0.40, 1.60},
}

// SetActionPrice records the price of a million actions for a namespace
// ("" for the default).
func (c *ClickHouse) SetActionPrice(ctx context.Context, namespace string, usdPerMillion float64) error {
	now := time.Now().UTC()
	return c.insertOne(ctx, "action_prices (namespace, usd_per_million, updated_at, version_us)", namespace, usdPerMillion, now, uint64(now.UnixMicro()))
}

// SetLLMPrice records a model's prices per million input and output tokens.
func (c *ClickHouse) SetLLMPrice(ctx context.Context, model string, input, output float64) error {
	now := time.Now().UTC()
	return c.insertOne(ctx, "llm_prices (model, input_usd_per_million, output_usd_per_million, updated_at, version_us)", model, input, output, now, uint64(now.UnixMicro()))
}

// SeedPrices sets the defaults where no price is recorded yet.
func (c *ClickHouse) SeedPrices(ctx context.Context) error {
	t, err := c.eng.query(ctx, "SELECT count() FROM "+c.db+".action_prices WHERE namespace = ''")
	if err != nil {
		return err
	}
	if len(t.Rows) != 1 || len(t.Rows[0]) != 1 {
		return fmt.Errorf("action_prices: count() gave %v", t.Rows)
	}
	if n, ok := t.Rows[0][0].(uint64); !ok {
		return fmt.Errorf("action_prices: count() gave %T %v, want UInt64", t.Rows[0][0], t.Rows[0][0])
	} else if n == 0 {
		if err := c.SetActionPrice(ctx, "", DefaultActionPrice); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	if t, err = c.eng.query(ctx, "SELECT DISTINCT model FROM "+c.db+".llm_prices"); err != nil {
		return err
	}
	for _, r := range t.Rows {
		m, _ := r[0].(string)
		known[m] = true
	}
	for _, m := range sortedModels() {
		if !known[m] {
			p := DefaultLLMPrices[m]
			if err := c.SetLLMPrice(ctx, m, p[0], p[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedModels() []string {
	out := make([]string, 0, len(DefaultLLMPrices))
	for m := range DefaultLLMPrices {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// insertOne inserts one row into a table of the database ("table (col, ...)").
func (c *ClickHouse) insertOne(ctx context.Context, into string, values ...any) error {
	return c.eng.insert(ctx, c.db+"."+into, [][]any{values})
}

// InsertMilestones implements MilestoneStore.
func (c *ClickHouse) InsertMilestones(ctx context.Context, rows []MilestoneRow) error {
	if len(rows) == 0 {
		return nil
	}
	vals := make([][]any, len(rows))
	for i := range rows {
		r := &rows[i]
		vals[i] = []any{r.ID, r.EntityID, r.WorkflowID, r.WorkflowType, r.Name, r.Seq, r.AppliedAt.UTC(), r.AppliedAt.UnixMicro(),
			r.PublishedUs, r.KafkaPartition, r.KafkaOffset, r.CauseEventID, r.CauseTopic, r.CausePartition, r.CauseOffset,
			r.CauseProducedUs, r.DataBytes}
	}
	return c.eng.insert(ctx, c.db+`.milestones (id, entity_id, workflow_id, workflow_type, name, seq,
 applied_at, applied_us, published_us, kafka_partition, kafka_offset, cause_event_id, cause_topic, cause_partition,
 cause_offset, cause_produced_us, data_bytes)`, vals)
}

// InsertLiveSignals implements LiveStore.
func (c *ClickHouse) InsertLiveSignals(ctx context.Context, rows []LiveSignalRow) error {
	if len(rows) == 0 {
		return nil
	}
	now := time.Now().UTC()
	vals := make([][]any, len(rows))
	for i := range rows {
		r := &rows[i]
		vals[i] = []any{r.Namespace, r.WorkflowID, r.WorkflowType, r.RunID, r.KafkaTopic, r.KafkaPartition, r.KafkaFirstOffset,
			r.KafkaLastOffset, r.BatchEvents, r.FirstProducedUs, nonNil(r.KafkaEventTypes), r.AppliedAt.UTC(), r.AppliedAt.UnixMicro(),
			r.PayloadBytes, r.Tenant, now}
	}
	return c.eng.insert(ctx, c.db+`.live_signals (namespace, workflow_id, workflow_type, run_id, kafka_topic, kafka_partition,
 kafka_first_offset, kafka_last_offset, batch_events, first_produced_us, kafka_event_types, applied_at, applied_us,
 payload_bytes, tenant, mirrored_at)`, vals)
}

// ReportedSince implements LiveIndex. It reads live_reporters (one row per
// workflow that ever reported, 0009), not live_signals (a row per signal,
// ordered by workflow, so a time window would read it whole). max() and
// not FINAL: rows of one workflow not yet merged collapse in the GROUP BY,
// on 18.16 too.
func (c *ClickHouse) ReportedSince(ctx context.Context, namespace string, since time.Time, limit int) (map[string]time.Time, error) {
	t, err := c.Query(ctx, `SELECT workflow_id, toUInt32(max(last_reported_at)) AS reported FROM `+c.db+`.live_reporters
 WHERE namespace = @namespace AND last_reported_at >= toDateTime(@since)
 GROUP BY workflow_id ORDER BY reported DESC LIMIT @limit`,
		clickhouse.Named("namespace", namespace), clickhouse.Named("since", since.Unix()), clickhouse.Named("limit", limit))
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(t.Rows))
	for _, r := range t.Rows {
		id, _ := r[0].(string)
		at, ok := r[1].(uint32)
		if !ok {
			return nil, fmt.Errorf("live_reporters: reported is %T, want UInt32", r[1])
		}
		out[id] = time.Unix(int64(at), 0)
	}
	return out, nil
}
