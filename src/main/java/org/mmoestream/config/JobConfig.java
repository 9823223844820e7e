package org.mmoestream.config;

import java.io.Serializable;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The job's own settings (topics, Kafka, label windows, limits), read from one YAML file. Every key
 * is defined once in {@link Key} with its default, description and validation; an invalid value
 * fails at start with one sentence naming the key. Flink's own settings live in flink-conf.
 */
public final class JobConfig implements Serializable {
    private static final long serialVersionUID = 1L;

    /**
     * A configuration key: YAML name, default, description and the parser that validates a value
     * and gives it its type {@code T}, so that {@code cfg.integer(key)} compiles only for an integer
     * key. Keys are the constants below, in the README table's order ({@link #values()}).
     */
    public static final class Key<T> implements Serializable {
        private static final long serialVersionUID = 1L;
        private static final List<Key<?>> ALL = new ArrayList<>();

        public static final Key<String> BOOTSTRAP =
                new Key<>("kafka.bootstrap-servers", "localhost:9092", "Kafka bootstrap servers", Parsers::servers);
        public static final Key<String> GROUP_ID = new Key<>(
                "kafka.group-id", "mmoe-pipeline", "consumer group of the job's Kafka sources", Parsers::text);
        public static final Key<String> TOPIC_IMPRESSIONS =
                new Key<>("topics.impressions", "impressions", "impression events", Parsers::topic);
        public static final Key<String> TOPIC_CLICKS =
                new Key<>("topics.clicks", "clicks", "click events", Parsers::topic);
        public static final Key<String> TOPIC_CONVERSIONS =
                new Key<>("topics.conversions", "conversions", "conversion events", Parsers::topic);
        public static final Key<String> TOPIC_EXAMPLES =
                new Key<>("topics.examples", "examples", "labeled examples (JSON)", Parsers::topic);
        public static final Key<String> TOPIC_DEAD_LETTER = new Key<>(
                "topics.dead-letter", "dead-letter", "records that failed validation, with a reason", Parsers::topic);
        public static final Key<Duration> CLICK_WINDOW = new Key<>(
                "join.click-window",
                "30 min",
                "a click counts if it comes this long after its impression",
                Parsers::positiveDuration);
        public static final Key<Duration> CONVERSION_WINDOW = new Key<>(
                "join.conversion-window",
                "24 h",
                "a conversion counts if it comes this long after its click",
                Parsers::positiveDuration);
        public static final Key<Duration> ORPHAN_WAIT = new Key<>(
                "join.orphan-wait",
                "5 min",
                "how long (event time) a click or conversion waits for its impression",
                Parsers::duration);
        public static final Key<Duration> DEDUP_RETENTION = new Key<>(
                "join.dedup-retention",
                "10 min",
                "how long a finished join remembers its request id to drop duplicates",
                Parsers::duration);
        public static final Key<Duration> OUT_OF_ORDERNESS = new Key<>(
                "join.out-of-orderness", "5 s", "bound of event-time disorder for watermarks", Parsers::duration);
        public static final Key<Duration> SOURCE_IDLENESS = new Key<>(
                "join.source-idleness",
                "30 s",
                "a partition without records for this long does not hold back the watermark",
                Parsers::positiveDuration);
        public static final Key<String> FEEDBACK = new Key<>(
                "join.feedback",
                "wait",
                "when an impression goes to training: wait (once, when its labels are final: at "
                        + "a conversion or when its windows close); fnw (fake negatives with weights: once "
                        + "when join.observation-window closes, with the labels known then, and again for "
                        + "each later click and conversion, the loss weighted by the model's own "
                        + "prediction); fnc (sent as fnw, trained unweighted, served calibrated: "
                        + "p = b / (1 - b)); defer (sent as fnw, a positive within join.observation-window "
                        + "again at once, and again as a real negative when the windows close without a "
                        + "positive; positives weighted p / (p - f_dp / 2), negatives (1 - p) / (1 - p + "
                        + "f_dp / 2), f_dp from the delayed heads of the click and the conversion, at a "
                        + "window of 0 f_dp = p and no heads); es-dfm (sent as fnw after join.observation-window, "
                        + "and again when the windows close for the model's delay heads, tasks of event "
                        + "<click|conversion>_delayed and _real_negative, whose predictions weight the "
                        + "event's tasks: positives 1 + f_dp, negatives (1 + f_dp) f_rn); fnw-matched (as fnw "
                        + "at a window of 0, but the conversion's fake negative of each impression is sent "
                        + "at a delay drawn from recent conversions' delays after their impressions, so that "
                        + "an item's negatives reach training with the delays its positives do; no task masked "
                        + "by the click but ESMM's conversion task)",
                Parsers.oneOf("wait", "fnw", "fnc", "defer", "es-dfm", "fnw-matched"));
        public static final Key<Duration> OBSERVATION_WINDOW = new Key<>(
                "join.observation-window",
                "0 s",
                "with join.feedback fnw, fnc, defer or es-dfm: how long (event time) after its impression an "
                        + "impression waits before it is first sent to training; clicks and conversions "
                        + "within it are part of that example (below join.click-window)",
                Parsers::duration);
        public static final Key<Duration> CONVERSION_DELAY_PRIOR = new Key<>(
                "join.conversion-delay-prior",
                "0 s",
                "with join.feedback fnw-matched: the mean delay from impression to conversion of an "
                        + "exponential prior that the join's sample of conversion delays starts as (truncated "
                        + "at the click and conversion windows): its delays longer than the join has run "
                        + "stay, the conversions seen replace the shorter ones; 0 s: no prior, the sample "
                        + "starts empty and a new join's first day sends its fake negatives early",
                Parsers::duration);
        public static final Key<Integer> CONVERSION_DELAY_SAMPLE = new Key<>(
                "join.conversion-delay-sample",
                "4096",
                "with join.feedback fnw-matched: how many recent conversions' delays each join subtask "
                        + "keeps and draws its fake negatives' delays from (1 to 1048576; in its operator "
                        + "state, 9 bytes each): the conversion heads are served at the sample's share of "
                        + "short delays, which a sample of n scatters by about 1/sqrt(n f) (f: that share), "
                        + "and the sample follows a change in the delays within n conversions",
                Parsers::positiveInt);
        public static final Key<Boolean> DROP_CONVERSIONS_WITHOUT_CLICK = new Key<>(
                "join.drop-conversions-without-click",
                "true",
                "drop (and count) a conversion whose impression was not clicked; false labels it conversion=1, click=0",
                Parsers::bool);
        public static final Key<Integer> MAX_RECORD_BYTES = new Key<>(
                "events.max-record-bytes", "65536", "larger records go to the dead-letter topic", Parsers::positiveInt);
        public static final Key<Duration> MAX_FUTURE = new Key<>(
                "events.max-future",
                "1 d",
                "a timestamp further ahead of the clock is rejected",
                Parsers::positiveDuration);
        public static final Key<String> TOPIC_MODEL =
                new Key<>("topics.model", "model", "published model versions (safetensors)", Parsers::topic);
        public static final Key<String> MODEL_SPEC = new Key<>(
                "model.spec",
                "examples/ctr-cvr.yaml",
                "model spec file (YAML): features, tasks, architecture, optimizer",
                Parsers::text);
        public static final Key<Integer> SEED =
                new Key<>("train.seed", "42", "seed of the initial parameters", Parsers::positiveInt);
        public static final Key<Integer> BATCH_SIZE = new Key<>(
                "train.batch-size",
                "256",
                "examples per training step; a partial batch (after train.max-wait, at the end of the input, "
                        + "and with train.parallelism > 1 before a checkpoint barrier) takes a step scaled by "
                        + "its share of it",
                Parsers::positiveInt);
        public static final Key<Duration> MAX_WAIT = new Key<>(
                "train.max-wait",
                "1 s",
                "a partial batch is trained after waiting this long (processing time; arrival order only)",
                Parsers::positiveDuration);
        public static final Key<String> ORDER = new Key<>(
                "train.order",
                "arrival",
                "arrival: train examples as their labels become final; event-time: hold each "
                        + "until the watermark passes its impression time + click window + conversion "
                        + "window, then train in impression-time order (request id breaks ties) in full "
                        + "batches: training is then a function of the events alone, as train-file on a "
                        + "replayed file, at the cost of the windows' latency and of holding their "
                        + "examples in memory",
                Parsers.oneOf("arrival", "event-time"));
        public static final Key<Integer> TRAIN_PARALLELISM = new Key<>(
                "train.parallelism",
                "1",
                "subtasks that train each model: 1 trains it on one subtask (exactly, in order); "
                        + "N > 1 trains it in synchronous rounds: N replicas each compute the gradient of "
                        + "train.batch-size / N examples on the same version, one reducer averages them and "
                        + "takes the step (arrival order only; the model's tables must fit "
                        + "train.working-set-rows)",
                Parsers::positiveInt);
        public static final Key<Integer> TRAIN_THREADS = new Key<>(
                "train.threads",
                "1",
                "threads that compute each training step of a model on its subtask (or of a replica's "
                        + "share): the batch's rows split over them on the model's own parameters, the loss "
                        + "and the optimizer step as on one thread (the same step, to float rounding; "
                        + "not with model.batch_norm); each thread takes a core beyond the subtask's own, "
                        + "so give the TaskManager the cores (taskmanager.numberOfTaskSlots times this)",
                Parsers::positiveInt);
        public static final Key<Duration> SYNC_INTERVAL = new Key<>(
                "train.sync-interval",
                "1 s",
                "with train.parallelism > 1: the longest a round waits for a replica's share after "
                        + "its first one came; a share that comes later joins the next round (a stale "
                        + "gradient: at 100 ms, runs with 4 or more cost cvr AUC)",
                Parsers::positiveDuration);
        public static final Key<Double> GRADIENT_DENSITY = new Key<>(
                "train.gradient-density",
                "1",
                "with train.parallelism > 1: the share of the entries of its dense gradient a replica "
                        + "sends per round: the largest of its gradient plus what it held back before (error "
                        + "feedback), the rest held back for later rounds and sent in full before each "
                        + "checkpoint barrier and at the end of the input; the reducer's versions then carry "
                        + "only the dense values a round changed. 1 sends every entry (one trainer's step, "
                        + "exactly); 0.05 sends a quarter to a third of the bytes, for about the same CPU "
                        + "and some cvr AUC (see Sending part of the gradient)",
                Parsers::unitFraction);
        public static final Key<String> TOPIC_TRAIN_SYNC = new Key<>(
                "topics.train-sync",
                "train-sync",
                "internal, with train.parallelism > 1: the reducer's synchronization versions "
                        + "for the replicas (one partition, a topic of its own; a short retention such as 10 min)",
                Parsers::topic);
        public static final Key<Integer> WORKING_SET_ROWS = new Key<>(
                "train.working-set-rows",
                "4000000",
                "embedding rows kept in memory per model (value and optimizer state: 64 bytes a "
                        + "row at dim 8 with Adagrad); a model whose tables fit keeps every row in memory, "
                        + "larger tables keep this many rows of a working set backed by state",
                Parsers::positiveInt);
        public static final Key<Integer> METRICS_WINDOW = new Key<>(
                "train.metrics-window",
                "10000",
                "examples in the sliding window of the progressive metrics",
                Parsers::positiveInt);
        public static final Key<String> INIT_FROM = new Key<>(
                "train.init-from",
                "none",
                "a full snapshot file (train-file --save, model export) a model starts from when it has no state "
                        + "yet: its tensors, tables and dense statistics are carried over when the spec has them with "
                        + "the same shape, new tables are initialized, a changed shape is refused; the optimizer state "
                        + "comes with a snapshot that has it (train-file --save), and version 1 is the snapshot as it "
                        + "came; applies to the model whose id the snapshot names; none: start from train.seed",
                Parsers::text);
        public static final Key<String> PROBES = new Key<>(
                "train.probes",
                "none",
                "file of probe requests (one features JSON object per line) scored by every "
                        + "published version into its metadata; none: no probes",
                Parsers::text);
        public static final Key<Duration> PUBLISH_INTERVAL = new Key<>(
                "publish.interval",
                "10 s",
                "a model version is published this often (processing time)",
                Parsers::positiveDuration);
        public static final Key<Integer> FULL_EVERY = new Key<>(
                "publish.full-every",
                "10",
                "every N-th version is a full snapshot (and the first after a start)",
                Parsers::positiveInt);
        public static final Key<Integer> MAX_MESSAGE_BYTES = new Key<>(
                "publish.max-message-bytes",
                "900000",
                "larger snapshots are split into chunks of this size",
                Parsers::positiveInt);
        public static final Key<String> TOPIC_SCORE_REQUESTS = new Key<>(
                "topics.score-requests", "score-requests", "requests to score (impression shape)", Parsers::topic);
        public static final Key<String> TOPIC_SCORES =
                new Key<>("topics.scores", "scores", "scores with the model version that made them", Parsers::topic);
        public static final Key<Integer> SCORING_BATCH_SIZE =
                new Key<>("scoring.batch-size", "64", "requests scored together", Parsers::positiveInt);
        public static final Key<Duration> SCORING_MAX_WAIT = new Key<>(
                "scoring.max-wait",
                "5 ms",
                "a partial micro-batch of requests is scored this long after its first request "
                        + "came: the latency a request may spend waiting for others (lower: less latency, "
                        + "smaller batches and more CPU per request at high rates)",
                Parsers::positiveDuration);
        public static final Key<Duration> SCORING_MAX_MODEL_AGE = new Key<>(
                "scoring.max-model-age",
                "10 min",
                "scores from an older model version are marked stale (0: never)",
                Parsers::duration);
        public static final Key<Integer> SCORING_MAX_BUFFERED = new Key<>(
                "scoring.max-buffered",
                "10000",
                "requests per model that may wait for its first version",
                Parsers::positiveInt);
        public static final Key<Duration> SCORING_UNKNOWN_WAIT = new Key<>(
                "scoring.unknown-model-wait",
                "1 min",
                "requests for a model with no version after this long go to dead-letter",
                Parsers::positiveDuration);
        public static final Key<Duration> SCORING_MODEL_WAIT = new Key<>(
                "scoring.model-wait",
                "1 min",
                "at start, each scoring instance reads the model topic up to its end (the last "
                        + "full snapshot and the deltas after it, per model) and warms up before it takes "
                        + "requests; it waits at most this long",
                Parsers::positiveDuration);
        public static final Key<Integer> SCORING_WARM_UP = new Key<>(
                "scoring.warm-up-requests",
                "20000",
                "synthetic requests each instance scores per model at start (and when it gets "
                        + "its first version), so the JIT has compiled the scoring path before the first "
                        + "real request",
                Parsers::nonNegativeInt);
        public static final Key<Duration> SCORING_BUFFER_TIMEOUT = new Key<>(
                "scoring.buffer-timeout",
                "5 ms",
                "Flink network buffer timeout of the scoring job (requests and scores do not "
                        + "cross the network inside the job; this bounds the dead letters' wait)",
                Parsers::positiveDuration);
        public static final Key<Duration> SCORING_FETCH_MAX_WAIT = new Key<>(
                "scoring.consumer-fetch-max-wait",
                "100 ms",
                "fetch.max.wait.ms of the request consumer: how long the broker holds a fetch "
                        + "that has no records (records are returned at once)",
                Parsers::positiveDuration);
        public static final Key<Duration> SCORING_PRODUCER_LINGER = new Key<>(
                "scoring.producer-linger",
                "0 ms",
                "linger.ms of the scores producer: waiting to fill larger batches (fewer "
                        + "requests to the broker at high rates) adds this much latency",
                Parsers::duration);
        public static final Key<String> SCORING_PRODUCER_ACKS = new Key<>(
                "scoring.producer-acks",
                "all",
                "acks of the scores producer (at-least-once): all waits for the in-sync replicas "
                        + "(no score lost on a broker failover); 1 only for the leader (lower latency, a "
                        + "score may be lost on failover). exactly-once always uses all",
                Parsers.oneOf("all", "1"));
        public static final Key<String> SCORING_DELIVERY = new Key<>(
                "scoring.delivery",
                "at-least-once",
                "scores sink guarantee: at-least-once (scores visible at once) or exactly-once "
                        + "(visible at each checkpoint)",
                Parsers.oneOf("at-least-once", "exactly-once"));
        public static final Key<Duration> TRANSACTION_TIMEOUT = new Key<>(
                "kafka.transaction-timeout",
                "10 min",
                "exactly-once sink transaction timeout (at most the broker's 15 min)",
                Parsers::transactionTimeout);

        final String yaml;
        final String dflt;
        final String description;
        /** Not serialized: a deserialized key is replaced by the constant of its name. */
        final transient Function<String, T> parser;

        private Key(String yaml, String dflt, String description, Function<String, T> parser) {
            this.yaml = yaml;
            this.dflt = dflt;
            this.description = description;
            this.parser = parser;
            ALL.add(this);
        }

        /** Every key, in the order they are defined. */
        public static List<Key<?>> values() {
            return Collections.unmodifiableList(ALL);
        }

        private Object readResolve() throws java.io.ObjectStreamException {
            for (Key<?> k : ALL) {
                if (k.yaml.equals(yaml)) {
                    return k;
                }
            }
            throw new java.io.InvalidObjectException("no configuration key " + yaml);
        }

        public String yaml() {
            return yaml;
        }

        public String defaultValue() {
            return dflt;
        }

        public String description() {
            return description;
        }
    }

    /** Prefix of Kafka client properties passed to every Kafka client of both jobs (SASL, SSL...). */
    public static final String CLIENT_PREFIX = "kafka.client.";

    private final Map<Key<?>, Object> values;
    private final Map<String, String> client;

    private JobConfig(Map<Key<?>, Object> values, Map<String, String> client) {
        this.values = values;
        this.client = client;
    }

    /** All defaults. */
    public static JobConfig defaults() {
        return of(Map.of());
    }

    /** Defaults overridden by {@code overrides} (YAML key -> text); validates every value. */
    public static JobConfig of(Map<String, String> overrides) {
        return of(overrides, "configuration");
    }

    static JobConfig of(Map<String, String> overrides, String source) {
        Set<String> known = Key.values().stream().map(k -> k.yaml).collect(Collectors.toSet());
        Map<String, String> client = new java.util.TreeMap<>();
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            String k = e.getKey();
            if (k.startsWith(CLIENT_PREFIX)) {
                String name = k.substring(CLIENT_PREFIX.length());
                if (!KAFKA_CLIENT_CONFIGS.contains(name)) {
                    throw new InputException(source + ": " + k + " is not a Kafka client property.");
                }
                client.put(name, e.getValue());
            } else if (!known.contains(k)) {
                throw new InputException(source + ": unknown key " + k + ".");
            }
        }
        Map<Key<?>, Object> values = new LinkedHashMap<>();
        for (Key<?> k : Key.values()) {
            String text = overrides.getOrDefault(k.yaml, k.dflt);
            try {
                values.put(k, k.parser.apply(text));
            } catch (IllegalArgumentException e) {
                throw new InputException(source + ": " + k.yaml + " " + e.getMessage() + ", got '" + text + "'.");
            }
        }
        return new JobConfig(values, Map.copyOf(client));
    }

    /** Every property name a Kafka producer, consumer or admin client accepts. */
    private static final Set<String> KAFKA_CLIENT_CONFIGS = new HashSet<>();

    static {
        KAFKA_CLIENT_CONFIGS.addAll(org.apache.kafka.clients.producer.ProducerConfig.configNames());
        KAFKA_CLIENT_CONFIGS.addAll(org.apache.kafka.clients.consumer.ConsumerConfig.configNames());
        KAFKA_CLIENT_CONFIGS.addAll(org.apache.kafka.clients.admin.AdminClientConfig.configNames());
    }

    /**
     * The {@code kafka.client.*} properties, for every Kafka client of the jobs (sources, sinks, the
     * model reader). Values may be secrets: never log them; {@link #toString()} masks them.
     */
    public java.util.Properties clientProperties() {
        java.util.Properties p = new java.util.Properties();
        p.putAll(client);
        return p;
    }

    /** The keys and values, with every Kafka client property value masked. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("JobConfig{");
        values.forEach((k, v) -> sb.append(k.yaml).append('=').append(text(v)).append(", "));
        client.keySet().forEach(k -> sb.append(CLIENT_PREFIX).append(k).append("=[hidden], "));
        return sb.append('}').toString();
    }

    /** Reads a job YAML file: nested mappings whose dotted paths are the keys of {@link Key}. */
    public static JobConfig load(Path file) {
        YamlNode root = YamlNode.load(file);
        Map<String, String> flat = new LinkedHashMap<>();
        root.flatten("", flat);
        return of(flat, file.toString());
    }

    public JobConfig with(Key<?> key, String value) {
        Map<String, String> m = new LinkedHashMap<>();
        values.forEach((k, v) -> m.put(k.yaml, text(v)));
        client.forEach((k, v) -> m.put(CLIENT_PREFIX + k, v));
        m.put(key.yaml, value);
        return of(m);
    }

    private static String text(Object v) {
        return v instanceof Duration d ? d.toMillis() + " ms" : String.valueOf(v);
    }

    /** The value of any key as text, for messages (a duration in milliseconds). */
    public String text(Key<?> k) {
        return text(values.get(k));
    }

    public String string(Key<String> k) {
        return (String) values.get(k);
    }

    public Duration duration(Key<Duration> k) {
        return (Duration) values.get(k);
    }

    /** A duration given on a command line, e.g. "15 min"; InputException naming {@code flag} if it is not one. */
    public static long parseDuration(String s, String flag) {
        try {
            return Parsers.duration(s).toMillis();
        } catch (IllegalArgumentException e) {
            throw new InputException(flag + " " + e.getMessage() + ", not '" + s + "'.");
        }
    }

    public long millis(Key<Duration> k) {
        return duration(k).toMillis();
    }

    public int integer(Key<Integer> k) {
        return (Integer) values.get(k);
    }

    public double number(Key<Double> k) {
        return (Double) values.get(k);
    }

    public boolean bool(Key<Boolean> k) {
        return (Boolean) values.get(k);
    }

    /**
     * Every topic key mapped to {@code prefix-<default name>}, so runs that share a broker (tests,
     * benchmarks) keep their topics apart.
     */
    public static Map<String, String> topicsWithPrefix(String prefix) {
        Map<String, String> m = new LinkedHashMap<>();
        for (Key<?> k : Key.values()) {
            if (k.yaml.startsWith("topics.")) {
                m.put(k.yaml, prefix + "-" + k.dflt);
            }
        }
        return m;
    }

    /** The documentation table: key | default | description. */
    public static List<String[]> table() {
        return Key.values().stream()
                .map(k -> new String[] {k.yaml, k.dflt, k.description})
                .toList();
    }

    /** Value parsers; each throws IllegalArgumentException with the rule the value broke. */
    static final class Parsers {
        private Parsers() {}

        static String text(String s) {
            if (s == null || s.isBlank()) {
                throw new IllegalArgumentException("must not be empty");
            }
            return s.trim();
        }

        /** Kafka's bootstrap list: host:port, comma-separated. */
        static String servers(String s) {
            if (s == null || !s.matches("\\s*[\\w.\\[\\]:-]+:\\d{1,5}(\\s*,\\s*[\\w.\\[\\]:-]+:\\d{1,5})*\\s*")) {
                throw new IllegalArgumentException("must be host:port, comma-separated");
            }
            return s;
        }

        static String topic(String s) {
            if (s == null || !s.matches("[a-zA-Z0-9._-]{1,249}")) {
                throw new IllegalArgumentException("must be a Kafka topic name (letters, digits, '.', '_', '-')");
            }
            return s;
        }

        static Boolean bool(String s) {
            if (!"true".equals(s) && !"false".equals(s)) {
                throw new IllegalArgumentException("must be true or false");
            }
            return Boolean.parseBoolean(s);
        }

        static Integer nonNegativeInt(String s) {
            try {
                int v = Integer.parseInt(s.trim());
                if (v >= 0) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // fall through
            }
            throw new IllegalArgumentException("must be an integer of at least 0");
        }

        static Integer positiveInt(String s) {
            try {
                int v = Integer.parseInt(s.trim());
                if (v > 0) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // fall through
            }
            throw new IllegalArgumentException("must be a positive integer");
        }

        /** A number above 0 and at most 1. */
        static Double unitFraction(String s) {
            try {
                double v = Double.parseDouble(s.trim());
                if (v > 0 && v <= 1) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // fall through
            }
            throw new IllegalArgumentException("must be a number above 0 and at most 1");
        }

        /** "250 ms", "5 s", "30 min", "24 h", "1 d"; a bare number is milliseconds. */
        static Duration duration(String s) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\s*(\\d+)\\s*(ms|s|min|h|d)?\\s*")
                    .matcher(s == null ? "" : s);
            if (!m.matches()) {
                throw new IllegalArgumentException("must be a duration such as 500 ms, 5 s, 30 min, 24 h or 1 d");
            }
            long n = Long.parseLong(m.group(1));
            String unit = m.group(2) == null ? "ms" : m.group(2);
            return switch (unit) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "min" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> Duration.ofDays(n);
            };
        }

        static Duration positiveDuration(String s) {
            Duration d = duration(s);
            if (d.isZero()) {
                throw new IllegalArgumentException("must be longer than zero");
            }
            return d;
        }

        /** A parser that accepts exactly {@code first} or {@code second}. */
        static Function<String, String> oneOf(String... choices) {
            return s -> {
                if (!java.util.Arrays.asList(choices).contains(s)) {
                    String all = String.join(", ", java.util.Arrays.copyOf(choices, choices.length - 1));
                    throw new IllegalArgumentException("must be " + all + " or " + choices[choices.length - 1]);
                }
                return s;
            };
        }

        static Duration transactionTimeout(String s) {
            Duration d = positiveDuration(s);
            if (d.compareTo(Duration.ofMinutes(15)) > 0) {
                throw new IllegalArgumentException("must be at most 15 min (the broker's transaction.max.timeout.ms)");
            }
            return d;
        }
    }
}
