//! The command line's arguments (clap): every subcommand, flag, environment variable and
//! default of `datamin`.

use clap::{Parser, Subcommand};

use datamin::sql::{OutputFormat, TableSpec};

/// datamin: data minimization for fitness-tracking data (FIT, TCX, GPX) on Apache DataFusion.
#[derive(Parser)]
#[command(version, about, long_about = None, after_help = "Exit codes: 0 ok, 1 some input files quarantined, 2 error.\nDocs: README.md; SQL functions: `datamin functions`.")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Log lines on stderr: human-readable, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "DATAMIN_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `2026-12-02T21:26:47Z  WARN datamin::runner: …`
    Human,
    /// `{"timestamp":…,"level":"WARN","fields":{…},"target":"datamin::runner"}`
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Minimize the FIT/TCX/GPX files under INPUT (or the JSON messages of Kafka topics) with
    /// POLICY into Parquet under OUTPUT, in micro-batches with a checkpoint (Spark
    /// Structured Streaming semantics).
    #[command(after_help = "\
Triggers (Spark's):
  available-now            every file present at start, in batches, then stop (default)
  once                     one batch with every new file, then stop
  processing-time=30s      a batch every interval until SIGINT/SIGTERM

Options (--option NAME=VALUE, Spark's names):
  maxFilesPerTrigger=N     at most N new files per batch
  maxBytesPerTrigger=SIZE  at most SIZE bytes of new files per batch (default 32m when no limit is set)
  latestFirst=true         newest files first
  maxFileAge=7d            ignore files older than the newest seen minus this
  fileNameOnly=true        a file is seen by its name, not its path
  cleanSource=off|archive|delete, sourceArchiveDir=URL   after a batch commits
  maxRecordsPerFile=N      start a new Parquet file after N rows

Kafka options (INPUT kafka://HOST:PORT/TOPIC[,TOPIC...]; the topic feeds a table the policy
declares with columns = {...}):
  startingOffsets=earliest|latest|{\"topic\":{\"0\":23}}   where a new checkpoint starts (latest)
  maxOffsetsPerTrigger=N   at most N messages per batch (default: 32 MiB of payload)
  failOnDataLoss=false     go on when offsets the checkpoint expects are gone
  kafka.<property>=VALUE   a librdkafka property (kafka.security.protocol=SASL_SSL, ...)
  table=NAME               the declared table the topics feed (when the policy declares several)
  valueFormat=json|avro    message encoding (json)
  schema.registry.url=URL  Avro in Confluent's wire format, schemas from this registry
  avroSchema=LOCATION      Avro writer schema (.avsc) of raw or single-object encoded messages
  Environment: DATAMIN_OPTION_<NAME>, DATAMIN_KAFKA_<PROPERTY> (_ for .)

Running again on the same OUTPUT resumes from its checkpoint: a batch that was interrupted
is re-run with the same files and policy version; only new files are read.
The policy (with the --set overrides) is re-read before every batch: a valid change takes
effect from the next batch, an invalid one is reported and the last valid policy stays.")]
    Run {
        /// Policy file (TOML).
        #[arg(short, long, env = "DATAMIN_POLICY")]
        policy: String,
        /// Input: a local path or URL (file://, s3://bucket/prefix/) of a file, a directory
        /// or a glob (s3://bucket/in/*/*.fit); or Kafka topics, kafka://HOST:PORT/TOPIC[,TOPIC…].
        #[arg(short, long, env = "DATAMIN_INPUT")]
        input: String,
        /// Output directory: a local path or URL. Must be empty, or hold the output of an
        /// earlier run (resumed), unless --overwrite.
        #[arg(short, long, env = "DATAMIN_OUTPUT")]
        output: String,
        /// Checkpoint directory (default: OUTPUT/_checkpoint).
        #[arg(long, env = "DATAMIN_CHECKPOINT")]
        checkpoint: Option<String>,
        /// When batches run: available-now (default), once or processing-time=INTERVAL.
        /// Overrides the policy's [job] trigger.
        #[arg(long, env = "DATAMIN_TRIGGER")]
        trigger: Option<datamin::runner::Trigger>,
        /// A source or sink option NAME=VALUE (Spark's names, see below); overrides the same
        /// option of the policy's [job.options]. Repeatable.
        #[arg(long = "option", value_name = "NAME=VALUE", value_parser = parse_option)]
        options: Vec<(String, String)>,
        /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464).
        #[arg(long, value_name = "ADDR", env = "DATAMIN_METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Override a policy parameter: PATH=VALUE, e.g. privacy_zone.radius_m=300 or
        /// tables.records.rules[2].enabled=false (VALUE is TOML). Repeatable.
        #[arg(long, value_name = "PATH=VALUE", value_parser = parse_option)]
        set: Vec<(String, String)>,
        /// Read the pseudonymization key from this file (overrides the policy's [key]).
        #[arg(long, env = "DATAMIN_KEY_FILE")]
        key_file: Option<String>,
        /// Start afresh: delete what is in OUTPUT and the checkpoint first.
        #[arg(long)]
        overwrite: bool,
        /// Files decoded in parallel (default: number of cores).
        #[arg(short, long, default_value_t = 0)]
        jobs: usize,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run SQL over activity files, with the datamin functions available.
    Sql {
        /// SQL to run (several statements separated by `;`). Without it and without -f,
        /// statements are read from stdin (an interactive prompt on a terminal).
        query: Option<String>,
        /// Run the statements of this file.
        #[arg(short, long)]
        file: Option<String>,
        /// Register a table: NAME[:MESSAGE]=LOCATION, MESSAGE one of record, lap, session,
        /// file_id (default: from NAME, else record). Repeatable.
        #[arg(short, long = "table", value_name = "NAME[:MESSAGE]=LOCATION")]
        tables: Vec<TableSpec>,
        /// Register raw.records, raw.laps, raw.sessions, raw.activities over this location.
        #[arg(short, long)]
        input: Option<String>,
        /// With --input: also create the policy's minimized.<table> views.
        #[arg(short, long)]
        policy: Option<String>,
        /// Read the pseudonymization key from this file.
        #[arg(long, env = "DATAMIN_KEY_FILE")]
        key_file: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print the SQL views a policy compiles to.
    Explain {
        /// Policy file (TOML).
        #[arg(short, long)]
        policy: String,
    },
    /// Show what a FIT, TCX or GPX file contains.
    Inspect {
        /// Local path or URL of the file.
        file: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the datamin SQL functions with their documentation.
    Functions,
    /// Decrypt the `encrypt`ed columns of a Parquet file (for the key holder).
    Decrypt {
        /// Parquet file (path or URL) written by `datamin run`.
        input: String,
        /// Output Parquet file (path or URL).
        #[arg(short, long)]
        output: String,
        /// Columns to decrypt (comma-separated).
        #[arg(short, long, value_delimiter = ',', required = true)]
        columns: Vec<String>,
        /// Read the key from this file (default: $DATAMIN_KEY). A keyring file gives the key
        /// the input was written with (its `datamin.key_id`).
        #[arg(long, env = "DATAMIN_KEY_FILE")]
        key_file: Option<String>,
    },
    /// Print the canonical tables and their columns (types, units in the names).
    Schema {
        /// Print JSON: {"table": ["column", ...]}.
        #[arg(long)]
        json: bool,
    },
}

/// `NAME=VALUE` of `--option`.
fn parse_option(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}
