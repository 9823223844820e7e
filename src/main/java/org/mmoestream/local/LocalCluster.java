package org.mmoestream.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * A multi-process Flink session cluster on this machine, run by {@code deploy/local-cluster}'s
 * scripts: one JobManager and N TaskManagers as separate JVMs with this JVM's own classpath (the
 * test classpath under Maven, the project's jar under {@code bin/mmoe}), on free ports. {@link
 * #close} (and, as a fallback, a shutdown hook) stops it with stop.sh.
 *
 * <p>It supervises its TaskManagers as Kubernetes or systemd would in production: a TaskManager
 * that exits on its own (not by {@link #killHard}) is replaced by a new one within seconds. Flink
 * 2.2.1 sometimes takes a TaskManager down itself after another one was killed (a fatal error in a
 * task's cleanup, {@code RemoteTransportException} from the lost peer); without a replacement a
 * job would be left short of slots, restarting forever.
 */
public final class LocalCluster implements AutoCloseable {
    /** The scripts: under the project ({@code MMOE_HOME}, which bin/mmoe sets) or the working directory. */
    private static final Path SCRIPTS = System.getenv("MMOE_HOME") != null
            ? Path.of(System.getenv("MMOE_HOME"), "deploy", "local-cluster")
            : Path.of("deploy/local-cluster");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final int restPort;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Thread shutdownHook;
    /** TaskManagers that {@link #killHard} killed or the supervisor replaced: not replaced (again). */
    private final Set<String> gone = ConcurrentHashMap.newKeySet();

    private final List<String> replaced = new CopyOnWriteArrayList<>();
    private final Thread supervisor;
    /** Set first by {@link #close}: no replacements after it. */
    private volatile boolean stopped;

    private boolean scriptsStopped;

    private LocalCluster(Path dir, int restPort) {
        this.dir = dir;
        this.restPort = restPort;
        this.shutdownHook = new Thread(this::stop, "local-cluster-stop");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
        this.supervisor = new Thread(this::supervise, "local-cluster-supervisor");
        supervisor.setDaemon(true);
    }

    /**
     * The classpath of this JVM as a list of entries: failsafe and surefire run tests from a
     * manifest-only jar and pass the real classpath in {@code surefire.test.class.path}.
     */
    public static String testClassPath() {
        return System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    }

    /** Starts a cluster of {@code taskManagers} TaskManagers (two slots each) in a fresh {@code dir}. */
    public static LocalCluster start(Path dir, int taskManagers) throws IOException, InterruptedException {
        Path abs = dir.toAbsolutePath();
        if (Files.exists(abs)) {
            run(abs, List.of("stop.sh", "--dir", abs.toString()), List.of(), Duration.ofSeconds(60));
            deleteRecursively(abs);
        }
        Files.createDirectories(abs);
        int rest = freePort();
        int rpc = freePort();
        int blob = freePort();
        LocalCluster cluster = new LocalCluster(abs, rest);
        String out = run(
                abs,
                List.of("start.sh", "--taskmanagers", String.valueOf(taskManagers), "--dir", abs.toString()),
                List.of(
                        "MMOE_CLASSPATH=" + testClassPath(),
                        "MMOE_REST_PORT=" + rest,
                        "MMOE_RPC_PORT=" + rpc,
                        "MMOE_BLOB_PORT=" + blob),
                Duration.ofSeconds(180));
        if (out == null) {
            String tails = cluster.logTails(40);
            cluster.close();
            throw new IllegalStateException("start.sh failed:\n" + Files.readString(abs.resolve("start.out")) + tails);
        }
        System.out.print(out);
        cluster.supervisor.start();
        return cluster;
    }

    /** Once a second: replaces each TaskManager that exited on its own (see the class comment). */
    private void supervise() {
        while (!stopped) {
            try {
                Thread.sleep(1_000);
                for (String name : taskManagers()) {
                    if (!stopped && !alive(name) && !gone.contains(name)) { // killHard marks before it kills
                        gone.add(name);
                        reportExit(name);
                        addTaskManager();
                        replaced.add(name);
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                if (!stopped) {
                    System.err.println("local-cluster: the supervisor could not replace a TaskManager: " + e);
                }
            }
        }
    }

    /**
     * Says that {@code name} exited on its own, with the first ERROR and fatal lines of its log:
     * printed now, as a test's next cluster in the same directory deletes the log.
     */
    private void reportExit(String name) {
        Path log = dir.resolve("log").resolve(name + ".log");
        System.err.println("local-cluster: " + name + " exited on its own; starting a replacement. "
                + "The first ERROR and fatal lines of " + log + ":");
        try {
            List<String> errors = errorLines(Files.readAllLines(log, StandardCharsets.UTF_8), 10);
            errors.forEach(System.err::println);
            if (errors.isEmpty()) {
                System.err.println("(none)");
            }
        } catch (IOException e) {
            System.err.println("(cannot read it: " + e + ")");
        }
    }

    /**
     * The TaskManagers that exited on their own and were replaced, by name, in order: each is listed
     * once its replacement is registered. A test that checks the cluster's health reads it.
     */
    public List<String> replacedTaskManagers() {
        return List.copyOf(replaced);
    }

    /** Runs a script of deploy/local-cluster; its output, or null when it failed or timed out. */
    private static String run(Path dir, List<String> command, List<String> env, Duration timeout)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add("bash");
        cmd.add(SCRIPTS.resolve(command.get(0)).toString());
        cmd.addAll(command.subList(1, command.size()));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(
                        dir.resolve(command.get(0).replace(".sh", ".out")).toFile());
        for (String e : env) {
            int eq = e.indexOf('=');
            pb.environment().put(e.substring(0, eq), e.substring(eq + 1));
        }
        Process p = pb.start();
        try {
            if (!p.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            throw e;
        }
        String out = Files.readString(dir.resolve(command.get(0).replace(".sh", ".out")));
        return p.exitValue() == 0 ? out : null;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void deleteRecursively(Path p) throws IOException {
        try (Stream<Path> files = Files.walk(p)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        }
    }

    public int restPort() {
        return restPort;
    }

    public Path dir() {
        return dir;
    }

    /**
     * An environment that submits jobs to this cluster: RocksDB, checkpoints every {@code
     * checkpointInterval} (as Flink writes durations) into the cluster's directory, no Kryo; the rest
     * (restart strategy, memory) is the cluster's configuration. No jars: the cluster's JVMs run with
     * this JVM's classpath.
     */
    public StreamExecutionEnvironment environment(int parallelism, String checkpointInterval) {
        Configuration conf = new Configuration();
        conf.setString("state.backend.type", "rocksdb");
        conf.setString("execution.checkpointing.interval", checkpointInterval);
        conf.setString(
                "execution.checkpointing.dir",
                dir.resolve("checkpoints").toUri().toString());
        conf.setString("pipeline.generic-types", "false");
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.createRemoteEnvironment("localhost", restPort, conf);
        env.setParallelism(parallelism);
        return env;
    }

    /** GET {@code path} (for example {@code /jobs/<id>/checkpoints}) from the REST API, as JSON. */
    public JsonNode rest(String path) throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(URI.create("http://localhost:" + restPort + path))
                        .timeout(Duration.ofSeconds(10))
                        .GET()
                        .build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (r.statusCode() != 200) {
            throw new IOException("GET " + path + ": HTTP " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    /** The pid of the JVM {@code name} ({@code jobmanager}, {@code taskmanager-1}, ...) from its pid file. */
    public long pid(String name) throws IOException {
        return Long.parseLong(Files.readString(dir.resolve(name + ".pid")).trim());
    }

    /**
     * Starts one more TaskManager (add-taskmanager.sh) and waits until it is registered. One at a
     * time: the script numbers it after the existing pid files.
     */
    public synchronized void addTaskManager() throws IOException, InterruptedException {
        if (stopped) {
            throw new IllegalStateException("the cluster in " + dir + " is stopped");
        }
        String out = run(
                dir,
                List.of("add-taskmanager.sh", "--dir", dir.toString()),
                List.of("MMOE_CLASSPATH=" + testClassPath()),
                Duration.ofSeconds(180));
        if (out == null) {
            throw new IllegalStateException(
                    "add-taskmanager.sh failed:\n" + Files.readString(dir.resolve("add-taskmanager.out")));
        }
    }

    /** The TaskManagers whose JVM runs, by name ({@code taskmanager-1}, ...). */
    public List<String> liveTaskManagers() throws IOException {
        List<String> out = new ArrayList<>();
        for (String name : taskManagers()) {
            if (alive(name)) {
                out.add(name);
            }
        }
        return out;
    }

    /** Every TaskManager started, alive or not, by name, from the pid files. */
    private List<String> taskManagers() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString())
                    .filter(n -> n.startsWith("taskmanager-") && n.endsWith(".pid"))
                    .map(n -> n.substring(0, n.length() - 4))
                    .sorted()
                    .toList();
        }
    }

    /** Whether the JVM {@code name} runs; one whose pid file is still being written counts as running. */
    private boolean alive(String name) throws IOException {
        String pid = Files.readString(dir.resolve(name + ".pid")).trim();
        return !pid.matches("[0-9]+")
                || ProcessHandle.of(Long.parseLong(pid))
                        .map(ProcessHandle::isAlive)
                        .orElse(false);
    }

    /**
     * Kills the JVM {@code name} with SIGKILL ({@code kill -9}) and waits until it is gone. The
     * supervisor does not replace it: the caller decides (for example with {@link #addTaskManager}).
     */
    public void killHard(String name) throws IOException, InterruptedException {
        gone.add(name);
        ProcessHandle h =
                ProcessHandle.of(pid(name)).orElseThrow(() -> new IllegalStateException(name + " does not run"));
        if (!h.destroyForcibly()) {
            throw new IllegalStateException("cannot kill " + name);
        }
        h.onExit().orTimeout(30, TimeUnit.SECONDS).join();
    }

    /**
     * The last {@code lines} lines of every JVM's log and output file, for a failure report, each
     * after the file's first {@code lines} ERROR and fatal lines (the cause of a JVM's exit may be far
     * above its tail).
     */
    public String logTails(int lines) {
        StringBuilder b = new StringBuilder();
        try (Stream<Path> logs = Files.list(dir.resolve("log"))) {
            for (Path f : logs.filter(Files::isRegularFile).sorted().toList()) {
                List<String> all = Files.readAllLines(f, StandardCharsets.UTF_8);
                List<String> errors = errorLines(all, lines);
                if (!errors.isEmpty()) {
                    b.append("\n===== ").append(f).append(" (its first ERROR and fatal lines) =====\n");
                    errors.forEach(l -> b.append(l).append('\n'));
                }
                b.append("\n===== ")
                        .append(f)
                        .append(" (last ")
                        .append(Math.min(lines, all.size()))
                        .append(" lines) =====\n");
                all.subList(Math.max(0, all.size() - lines), all.size())
                        .forEach(l -> b.append(l).append('\n'));
            }
        } catch (IOException e) {
            b.append("\n(cannot read the logs in ")
                    .append(dir.resolve("log"))
                    .append(": ")
                    .append(e)
                    .append(")\n");
        }
        return b.toString();
    }

    /** The first {@code limit} ERROR and fatal lines of a log. */
    private static List<String> errorLines(List<String> log, int limit) {
        return log.stream()
                .filter(l -> l.contains(" ERROR ") || l.toLowerCase(Locale.ROOT).contains("fatal"))
                .limit(limit)
                .toList();
    }

    private void stop() {
        stopped = true;
        supervisor.interrupt(); // ends a replacement under way, which holds the lock
        synchronized (this) {
            if (!scriptsStopped) {
                scriptsStopped = true;
                stopCluster();
            }
        }
    }

    private void stopCluster() {
        try {
            if (run(dir, List.of("stop.sh", "--dir", dir.toString()), List.of(), Duration.ofSeconds(60)) == null) {
                System.err.println("stop.sh failed: " + Files.readString(dir.resolve("stop.out")));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops every JVM of the cluster (stop.sh: SIGTERM, then SIGKILL after its timeout). */
    @Override
    public void close() {
        stop();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs (or ran) anyway
        }
    }
}
