package org.mmoestream.score;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.mmoestream.event.DeadLetter;
import org.mmoestream.event.Event;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.publish.ChunkAssembler;
import org.mmoestream.publish.ModelChunk;

/**
 * Scores requests (keyed by model id) with the broadcast model stream. A model version is
 * assembled from its chunks and applied (full, or delta on its base); the broadcast state keeps,
 * per model, the last full snapshot as published and the deltas applied since (at most {@code
 * publish.full-every - 1}), so a restored job rebuilds the current version and scores at once,
 * and no version costs a re-serialization of the whole model. Requests wait in keyed state for
 * their model's first version (at most {@code maxBuffered} per model, and {@code unknownWait} ms),
 * then go to the dead-letter output as "unknown model". Requests are scored in micro-batches of
 * {@code batchSize}, or after {@code maxWait} ms; each score carries the version it used, and is
 * marked stale when that version is older than {@code maxAge} ms.
 */
public class ScoringFunction extends KeyedBroadcastProcessFunction<String, Event, ModelChunk, ScoreRecord> {
  private static final long serialVersionUID = 1L;

  /**
   * The broadcast state: key {@code model} holds the model's last full snapshot, key {@code model
   * + '\0' + version (19 digits)} each delta applied after it.
   */
  public static final MapStateDescriptor<String, byte[]> MODELS =
      new MapStateDescriptor<>("models", Types.STRING, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  private static final char DELTA_SEPARATOR = '\0';

  public static final OutputTag<DeadLetter> DEAD_LETTERS =
      new OutputTag<>("scoring-dead-letters", TypeInformation.of(DeadLetter.class));

  private final int batchSize;
  private final long maxWait;
  private final long maxAge;
  private final int maxBuffered;
  private final long unknownWait;
  private final String requestTopic;

  private static final ListStateDescriptor<Event> PENDING = new ListStateDescriptor<>("pending", TypeInformation.of(Event.class));
  private static final ValueStateDescriptor<Long> FIRST_WAITING = new ValueStateDescriptor<>("first-waiting", Types.LONG);
  private static final ValueStateDescriptor<Integer> PENDING_COUNT = new ValueStateDescriptor<>("pending-count", Types.INT);

  private transient ListState<Event> pending;
  private transient ValueState<Long> firstWaiting;
  /** Size of {@link #pending}, so a request does not read the whole list to learn it. */
  private transient ValueState<Integer> pendingCount;
  private transient Map<String, SnapshotState> building;
  private transient ChunkAssembler chunks;
  private transient Scorer scorer;
  private transient Counter scored;
  private transient Counter deadLetters;

  public ScoringFunction(int batchSize, long maxWait, long maxAge, int maxBuffered, long unknownWait, String requestTopic) {
    this.batchSize = batchSize;
    this.maxWait = maxWait;
    this.maxAge = maxAge;
    this.maxBuffered = maxBuffered;
    this.unknownWait = unknownWait;
    this.requestTopic = requestTopic;
  }

  @Override
  public void open(OpenContext ctx) {
    pending = getRuntimeContext().getListState(PENDING);
    firstWaiting = getRuntimeContext().getState(FIRST_WAITING);
    pendingCount = getRuntimeContext().getState(PENDING_COUNT);
    building = new HashMap<>();
    chunks = new ChunkAssembler();
    scorer = Scorer.empty();
    scored = getRuntimeContext().getMetricGroup().counter("scores");
    deadLetters = getRuntimeContext().getMetricGroup().counter("dead_letters");
    getRuntimeContext().getMetricGroup().gauge("model_versions", (Gauge<String>) () -> scorer.describe());
  }

  /** After a restore, the scorer is rebuilt from the broadcast state on first use. */
  private void ensureModels(ReadOnlyBroadcastState<String, byte[]> models) throws Exception {
    List<String> missing = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : models.immutableEntries()) {
      String key = e.getKey();
      if (key.indexOf(DELTA_SEPARATOR) < 0 && scorer.version(key) < 0) {
        missing.add(key);
      }
    }
    for (String model : missing) {
      SnapshotState s = new SnapshotState();
      s.apply(models.get(model));
      java.util.TreeMap<String, byte[]> deltas = new java.util.TreeMap<>();
      for (Map.Entry<String, byte[]> e : models.immutableEntries()) {
        if (e.getKey().startsWith(model + DELTA_SEPARATOR)) {
          deltas.put(e.getKey(), e.getValue());
        }
      }
      for (byte[] d : deltas.values()) {
        s.apply(d);
      }
      building.put(model, s);
      scorer.install(s);
      registerModelMetrics(model);
    }
  }

  private static String deltaKey(String model, long version) {
    return model + DELTA_SEPARATOR + String.format(java.util.Locale.ROOT, "%019d", version);
  }

  private final java.util.Set<String> metricModels = new java.util.HashSet<>();

  private void registerModelMetrics(String model) {
    if (metricModels.add(model)) {
      var g = getRuntimeContext().getMetricGroup().addGroup("model", model);
      g.gauge("version", (Gauge<Long>) () -> scorer.version(model));
      g.gauge("age_ms", (Gauge<Long>) () -> System.currentTimeMillis() - scorer.createdAt(model));
    }
  }

  @Override
  public void processElement(Event request, ReadOnlyContext ctx, Collector<ScoreRecord> out) throws Exception {
    ensureModels(ctx.getBroadcastState(MODELS));
    long now = ctx.timerService().currentProcessingTime();
    Integer count = pendingCount.value();
    int waiting = count == null ? 0 : count;
    if (waiting >= maxBuffered) {
      dead(d -> ctx.output(DEAD_LETTERS, d), request, "model '" + request.model + "' has no version yet and " + maxBuffered + " requests already wait for it");
      return;
    }
    pending.add(request);
    pendingCount.update(waiting + 1);
    if (waiting == 0) {
      firstWaiting.update(now);
      ctx.timerService().registerProcessingTimeTimer(now + maxWait);
    }
    if (scorer.version(request.model) >= 0 && waiting + 1 >= batchSize) {
      flush(ctx.getCurrentKey(), now, out, d -> ctx.output(DEAD_LETTERS, d));
    }
  }

  @Override
  public void onTimer(long time, OnTimerContext ctx, Collector<ScoreRecord> out) throws Exception {
    ensureModels(ctx.getBroadcastState(MODELS));
    String model = ctx.getCurrentKey();
    Long since = firstWaiting.value();
    if (since == null) {
      return;
    }
    java.util.function.Consumer<DeadLetter> deadOut = d -> ctx.output(DEAD_LETTERS, d);
    if (scorer.version(model) >= 0) {
      flush(model, time, out, deadOut);
    } else if (time - since >= unknownWait) {
      for (Event e : pending.get()) {
        dead(deadOut, e, "unknown model '" + model + "': no version arrived within " + unknownWait + " ms");
      }
      pending.clear();
      pendingCount.clear();
      firstWaiting.clear();
    } else {
      ctx.timerService().registerProcessingTimeTimer(time + maxWait);
    }
  }

  private void flush(String model, long now, Collector<ScoreRecord> out, java.util.function.Consumer<DeadLetter> deadOut)
      throws Exception {
    List<Event> batch = new ArrayList<>();
    pending.get().forEach(batch::add);
    pending.clear();
    pendingCount.clear();
    firstWaiting.clear();
    scoreBatch(model, batch, now, out, deadOut);
  }

  private void scoreBatch(String model, List<Event> batch, long now, Collector<ScoreRecord> out,
      java.util.function.Consumer<DeadLetter> deadOut) {
    List<Event> ok = new ArrayList<>();
    List<String> features = new ArrayList<>();
    for (Event e : batch) {
      try {
        scorer.score(model, e.features);
        ok.add(e);
        features.add(e.features);
      } catch (IllegalArgumentException ex) {
        dead(deadOut, e, ex.getMessage());
      }
    }
    if (ok.isEmpty()) {
      return;
    }
    boolean stale = maxAge > 0 && now - scorer.createdAt(model) > maxAge;
    List<Scorer.Score> scores = scorer.score(model, features);
    for (int i = 0; i < ok.size(); i++) {
      Scorer.Score s = scores.get(i);
      ScoreRecord r = new ScoreRecord();
      r.requestId = ok.get(i).requestId;
      r.model = model;
      r.modelVersion = s.version();
      r.ctr = s.head("ctr");
      r.cvr = s.head("cvr");
      r.ctcvr = s.head("ctcvr");
      r.scoredAt = now;
      r.stale = stale;
      scored.inc();
      out.collect(r);
    }
  }

  private void dead(java.util.function.Consumer<DeadLetter> deadOut, Event e, String reason) {
    deadLetters.inc();
    String raw = "{\"request_id\":\"" + e.requestId + "\",\"ts\":" + e.ts + ",\"model\":\"" + e.model
        + "\",\"features\":" + e.features + "}";
    deadOut.accept(new DeadLetter(requestTopic, -1, -1, reason, raw.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }

  @Override
  public void processBroadcastElement(ModelChunk c, Context ctx, Collector<ScoreRecord> out) throws Exception {
    BroadcastState<String, byte[]> models = ctx.getBroadcastState(MODELS);
    ensureModels(models);
    byte[] snapshot = chunks.add(c);
    if (snapshot == null) {
      return;
    }
    SnapshotState s = building.computeIfAbsent(c.model, k -> new SnapshotState());
    if (!s.apply(snapshot)) {
      return; // a delta whose base this instance has not seen: wait for the next full snapshot
    }
    scorer.install(s);
    registerModelMetrics(c.model);
    if (org.mmoestream.model.codec.Snapshots.FULL.equals(c.kind)) {
      List<String> old = new ArrayList<>();
      for (Map.Entry<String, byte[]> e : models.entries()) {
        if (e.getKey().startsWith(c.model + DELTA_SEPARATOR)) {
          old.add(e.getKey());
        }
      }
      for (String k : old) {
        models.remove(k);
      }
      models.put(c.model, snapshot);
    } else {
      models.put(deltaKey(c.model, c.version), snapshot);
    }
    // Requests that waited for this model: score them now.
    long now = ctx.currentProcessingTime();
    ctx.applyToKeyedState(PENDING, (key, state) -> {
      if (!key.equals(c.model)) {
        return;
      }
      List<Event> batch = new ArrayList<>();
      state.get().forEach(batch::add);
      state.clear();
      if (!batch.isEmpty()) {
        scoreBatch(key, batch, now, out, d -> ctx.output(DEAD_LETTERS, d));
      }
    });
    ctx.applyToKeyedState(PENDING_COUNT, (key, state) -> {
      if (key.equals(c.model)) {
        state.clear();
      }
    });
    ctx.applyToKeyedState(FIRST_WAITING, (key, state) -> {
      if (key.equals(c.model)) {
        state.clear();
      }
    });
  }
}
