package org.mmoestream.score;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ModelReader;
import org.mmoestream.train.ExampleEncoder;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Scores requests in-process, for a serving system that does not run Flink. Built from a snapshot
 * file or by following the model topic. Thread-safe: each installed version is an immutable copy;
 * a call reads the current version once and scores only with it, so no score mixes the tensors of
 * two versions, and a new version replaces the old one atomically for later calls.
 */
public final class Scorer implements AutoCloseable {

  /** The scores of one request: per head (ctr, cvr, ctcvr, ...) and the version used. */
  public record Score(String model, long version, List<String> heads, double[] values) {
    public double head(String name) {
      int i = heads.indexOf(name);
      return i < 0 ? Double.NaN : values[i];
    }
  }

  /** One installed model version. */
  private static final class Version {
    final String model;
    final long version;
    final long createdAt;
    final MmoeModel net;
    final ExampleEncoder encoder;

    Version(String model, long version, long createdAt, MmoeModel net) {
      this.model = model;
      this.version = version;
      this.createdAt = createdAt;
      this.net = net;
      this.encoder = new ExampleEncoder(net.spec());
    }
  }

  private final AtomicReference<Map<String, Version>> versions = new AtomicReference<>(Map.of());
  private final AtomicBoolean stop = new AtomicBoolean();
  private Thread follower;

  private Scorer() {}

  /** A scorer with no model yet; versions come through {@link #install}. */
  public static Scorer empty() {
    return new Scorer();
  }

  /** "model@version, ..." of the installed versions, for a metric. */
  public String describe() {
    StringBuilder sb = new StringBuilder();
    versions.get().values().forEach(v -> sb.append(sb.length() == 0 ? "" : ", ").append(v.model).append('@').append(v.version));
    return sb.toString();
  }

  /** A scorer of the full snapshot in {@code file}. */
  public static Scorer fromSnapshot(Path file) throws java.io.IOException {
    SnapshotState s = new SnapshotState();
    if (!s.apply(Files.readAllBytes(file))) {
      throw new IllegalArgumentException(file + " is a delta; a scorer needs a full snapshot");
    }
    Scorer scorer = new Scorer();
    scorer.install(s);
    return scorer;
  }

  /** A scorer that follows {@code topic}, installing every new version as it is committed. */
  public static Scorer follow(String bootstrap, String topic, Properties client) {
    Scorer scorer = new Scorer();
    ModelReader reader = new ModelReader(bootstrap, topic, null, client);
    scorer.follower = new Thread(() -> {
      try (reader) {
        while (!scorer.stop.get()) {
          if (reader.poll(Duration.ofMillis(200)) > 0) {
            reader.models().values().forEach(scorer::install);
          }
        }
      }
    }, "scorer-model-follower");
    scorer.follower.setDaemon(true);
    scorer.follower.start();
    return scorer;
  }

  /** Installs a copy of {@code s}'s current model unless that version is already installed. */
  public void install(SnapshotState s) {
    Version current = versions.get().get(s.modelId());
    if (current != null && current.version >= s.version()) {
      return;
    }
    MmoeModel copy = MmoeModel.create(s.model().spec(), 0, DataType.FLOAT);
    copy.restoreParameters(s.model().copyParameters());
    long created = Long.parseLong(s.metadata().getOrDefault("created_at", "0"));
    Version v = new Version(s.modelId(), s.version(), created, copy);
    versions.updateAndGet(m -> {
      Map<String, Version> next = new HashMap<>(m);
      next.merge(v.model, v, (a, b) -> a.version >= b.version ? a : b);
      return Map.copyOf(next);
    });
  }

  /** The installed version of {@code model}, or -1. */
  public long version(String model) {
    Version v = versions.get().get(model);
    return v == null ? -1 : v.version;
  }

  /** Creation time (epoch ms) of the installed version of {@code model}, or -1. */
  public long createdAt(String model) {
    Version v = versions.get().get(model);
    return v == null ? -1 : v.createdAt;
  }

  /** Scores one request (its features as JSON). */
  public Score score(String model, String featuresJson) {
    return score(model, List.of(featuresJson)).get(0);
  }

  /**
   * Scores a batch of requests with one version of {@code model}; throws IllegalArgumentException
   * for an unknown model or a request whose features cannot be encoded (naming the feature).
   */
  public List<Score> score(String model, List<String> featuresJson) {
    Version v = versions.get().get(model);
    if (v == null) {
      throw new IllegalArgumentException("unknown model '" + model + "'");
    }
    List<EncodedExample> rows = new ArrayList<>(featuresJson.size());
    for (String f : featuresJson) {
      rows.add(v.encoder.encodeFeatures(f, null));
    }
    double[][] p;
    synchronized (v) {
      p = v.net.predict(Batch.of(rows));
    }
    List<String> heads = v.net.spec().heads();
    List<Score> out = new ArrayList<>(rows.size());
    for (int r = 0; r < rows.size(); r++) {
      double[] values = new double[heads.size()];
      for (int h = 0; h < values.length; h++) {
        values[h] = p[h][r];
      }
      out.add(new Score(model, v.version, heads, values));
    }
    return out;
  }

  @Override
  public void close() throws InterruptedException {
    stop.set(true);
    if (follower != null) {
      follower.join(5_000);
    }
  }
}
