package org.mmoestream.train;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.InternalTimer;
import org.apache.flink.streaming.api.operators.InternalTimerService;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.operators.Triggerable;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.codec.SpecJson;
import org.mmoestream.publish.ModelChunk;

/**
 * Trains one model per key (the model id) on the labeled examples of that model, and publishes
 * its versions. A thin adapter: the math is {@link MmoeModel#trainStep}; {@link ModelRuntime}
 * holds the working set; this class moves it between memory and keyed state.
 *
 * <p>State (keyed by model id, RocksDB in production): the dense parameters and their optimizer
 * state as flat float arrays, the dense-feature statistics, the counters (step, examples, version),
 * the examples waiting for a batch, and one map entry per embedding row ever touched (row and its
 * optimizer state), so a table larger than memory works. In memory a bounded working set of rows
 * is cached; {@link #prepareSnapshotPreBarrier} writes everything back, so a checkpoint always has
 * the current model and loses no buffered example.
 *
 * <p>Batches of {@code batchSize} examples are trained in arrival order; a partial batch waits at
 * most {@code maxWait}. In event-time order ({@code train.order: event-time}) an example is held
 * until the watermark passes its impression time + the horizon (by then the join has emitted every
 * example of an earlier impression), then trained in (impression time, request id) order in full
 * batches only, the last partial batch at the end of the input: the parameters are then a function
 * of the events alone, whatever the arrival order, the join's parallelism or the failures on the way.
 * An example that comes after its release time (its events were later than the watermark allows)
 * is trained at once and counted in {@code examples_out_of_order}.
 *
 * <p>Every {@code publishInterval} a version is emitted as {@link ModelChunk}s: a delta (dense
 * tensors + rows touched since the last version), or a full snapshot every N-th version and the
 * first after a (re)start.
 */
public class TrainOperator extends AbstractStreamOperator<ModelChunk>
    implements OneInputStreamOperator<LabeledExample, ModelChunk>, BoundedOneInput,
        Triggerable<String, VoidNamespace> {
  private static final long serialVersionUID = 1L;

  /**
   * What the operator needs from the job configuration. {@code orderHorizonMillis} 0 trains in
   * arrival order; a positive horizon (click window + conversion window) trains in event-time order.
   */
  public record Settings(String specJson, long seed, int batchSize, long maxWaitMillis,
      long publishIntervalMillis, int fullEvery, int maxMessageBytes, int workingSetRows,
      int metricsWindow, List<String> probes, long orderHorizonMillis) implements Serializable {
    public Settings {
      probes = probes == null ? List.of() : List.copyOf(probes);
    }

    public Settings(String specJson, long seed, int batchSize, long maxWaitMillis, long publishIntervalMillis,
        int fullEvery, int maxMessageBytes, int workingSetRows, int metricsWindow, List<String> probes) {
      this(specJson, seed, batchSize, maxWaitMillis, publishIntervalMillis, fullEvery, maxMessageBytes,
          workingSetRows, metricsWindow, probes, 0);
    }

    /** Whether examples are trained in event-time order. */
    public boolean eventTimeOrder() {
      return orderHorizonMillis > 0;
    }

    public Settings(String specJson, long seed, int batchSize, long maxWaitMillis, long publishIntervalMillis,
        int fullEvery, int maxMessageBytes, int workingSetRows, int metricsWindow) {
      this(specJson, seed, batchSize, maxWaitMillis, publishIntervalMillis, fullEvery, maxMessageBytes,
          workingSetRows, metricsWindow, List.of());
    }
  }

  private final Settings settings;

  private transient ModelSpec spec;
  private transient ExampleEncoder encoder;
  private transient Map<String, ModelRuntime> runtimes;
  private transient InternalTimerService<VoidNamespace> timers;
  private transient ModelRuntime.StateAccess state;
  private transient Counter trained;
  private transient Counter rejected;
  private transient Counter versions;
  private transient Counter outOfOrder;
  private transient List<EncodedExample> probes;

  public TrainOperator(Settings settings) {
    this.settings = settings;
  }

  @Override
  public void open() throws Exception {
    super.open();
    spec = SpecJson.read(settings.specJson());
    ExampleEncoder.requireEvents(spec);
    encoder = new ExampleEncoder(spec);
    probes = new ArrayList<>();
    for (String p : settings.probes()) {
      probes.add(encoder.encodeFeatures(p, null));
    }
    runtimes = new LinkedHashMap<>();
    timers = getInternalTimerService("train-timers", VoidNamespaceSerializer.INSTANCE, this);
    var store = getKeyedStateStore();
    ValueState<float[]> dense = store.getState(new ValueStateDescriptor<>("dense", PrimitiveArrayTypeInfo.FLOAT_PRIMITIVE_ARRAY_TYPE_INFO));
    ValueState<float[]> opt = store.getState(new ValueStateDescriptor<>("dense-optimizer", PrimitiveArrayTypeInfo.FLOAT_PRIMITIVE_ARRAY_TYPE_INFO));
    ValueState<double[]> stats = store.getState(new ValueStateDescriptor<>("dense-stats", PrimitiveArrayTypeInfo.DOUBLE_PRIMITIVE_ARRAY_TYPE_INFO));
    ValueState<long[]> counters = store.getState(new ValueStateDescriptor<>("counters", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
    MapState<Long, float[]> rows = store.getMapState(new MapStateDescriptor<>("rows", Types.LONG, PrimitiveArrayTypeInfo.FLOAT_PRIMITIVE_ARRAY_TYPE_INFO));
    ListState<LabeledExample> buffer = store.getListState(new ListStateDescriptor<>("buffer", TypeInformation.of(LabeledExample.class)));
    ListState<LabeledExample> held = store.getListState(new ListStateDescriptor<>("held", TypeInformation.of(LabeledExample.class)));
    state = new ModelRuntime.StateAccess(dense, opt, stats, counters, rows, buffer, held);
    MetricGroup g = getMetricGroup();
    trained = g.counter("examples_trained");
    rejected = g.counter("examples_rejected");
    versions = g.counter("versions_published");
    outOfOrder = g.counter("examples_out_of_order");
  }

  private ModelRuntime runtime(String key) throws Exception {
    ModelRuntime rt = runtimes.get(key);
    if (rt == null) {
      rt = ModelRuntime.load(key, spec, settings, state);
      runtimes.put(key, rt);
      rt.registerMetrics(getMetricGroup().addGroup("model", key));
    }
    return rt;
  }

  @Override
  public void processElement(StreamRecord<LabeledExample> record) throws Exception {
    String key = (String) getCurrentKey();
    ModelRuntime rt = runtime(key);
    long now = getProcessingTimeService().getCurrentProcessingTime();
    if (!rt.publishTimerSet) {
      rt.nextPublish = now + settings.publishIntervalMillis();
      timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, rt.nextPublish);
      rt.publishTimerSet = true;
    }
    LabeledExample e = record.getValue();
    if (settings.eventTimeOrder()) {
      long release = e.impressionTs + settings.orderHorizonMillis();
      if (release > timers.currentWatermark()) {
        rt.held.add(e);
        if (release < rt.heldTimer) {
          timers.registerEventTimeTimer(VoidNamespace.INSTANCE, release);
          rt.heldTimer = release;
        }
        return;
      }
      outOfOrder.inc();
    }
    enqueue(rt, e, now);
  }

  /** Adds an example to the batch being filled and trains every full batch. */
  private void enqueue(ModelRuntime rt, LabeledExample e, long now) throws Exception {
    if (rt.buffer.isEmpty() && !settings.eventTimeOrder()) {
      rt.bufferSince = now;
      timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, now + settings.maxWaitMillis());
    }
    rt.buffer.add(e);
    if (rt.buffer.size() >= settings.batchSize()) {
      trainBuffered(rt, false);
    }
  }

  /** Moves the held examples due by {@code watermark} to the batches, in event-time order. */
  private void release(ModelRuntime rt, long watermark) throws Exception {
    long now = getProcessingTimeService().getCurrentProcessingTime();
    while (!rt.held.isEmpty() && rt.held.peek().impressionTs + settings.orderHorizonMillis() <= watermark) {
      enqueue(rt, rt.held.poll(), now);
    }
    rt.heldTimer = Long.MAX_VALUE;
    if (!rt.held.isEmpty()) {
      rt.heldTimer = rt.held.peek().impressionTs + settings.orderHorizonMillis();
      timers.registerEventTimeTimer(VoidNamespace.INSTANCE, rt.heldTimer);
    }
  }

  /** Trains full batches from the buffer, and the rest as one partial batch if {@code partial}. */
  private void trainBuffered(ModelRuntime rt, boolean partial) throws Exception {
    while (rt.buffer.size() >= settings.batchSize() || (partial && !rt.buffer.isEmpty())) {
      int n = Math.min(settings.batchSize(), rt.buffer.size());
      List<LabeledExample> take = new ArrayList<>(rt.buffer.subList(0, n));
      rt.buffer.subList(0, n).clear();
      List<EncodedExample> rows = new ArrayList<>(n);
      for (LabeledExample e : take) {
        try {
          rows.add(encoder.encode(e.features, e.click, e.conversion));
        } catch (IllegalArgumentException ex) {
          rejected.inc();
          if (rejected.getCount() <= 10) {
            LOG.warn("example {} of model {} cannot be encoded and is not trained on: {}", e.requestId, e.model, ex.getMessage());
          }
        }
      }
      if (!rows.isEmpty()) {
        rt.noteLabeled(take);
        rt.train(Batch.of(rows), state);
        trained.inc(rows.size());
      }
    }
  }

  @Override
  public void onProcessingTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
    ModelRuntime rt = runtime(timer.getKey());
    long now = getProcessingTimeService().getCurrentProcessingTime();
    if (!settings.eventTimeOrder() && !rt.buffer.isEmpty() && now - rt.bufferSince >= settings.maxWaitMillis()) {
      trainBuffered(rt, true);
    }
    if (now >= rt.nextPublish) {
      publish(rt, now);
      rt.nextPublish = now + settings.publishIntervalMillis();
      timers.registerProcessingTimeTimer(VoidNamespace.INSTANCE, rt.nextPublish);
      rt.publishTimerSet = true;
    }
  }

  private void publish(ModelRuntime rt, long now) throws Exception {
    for (ModelChunk c : rt.publish(now, state, probes)) {
      output.collect(new StreamRecord<>(c));
    }
    if (rt.lastPublished()) {
      versions.inc();
    }
  }

  @Override
  public void onEventTime(InternalTimer<String, VoidNamespace> timer) throws Exception {
    release(runtime(timer.getKey()), timers.currentWatermark());
  }

  @Override
  public void endInput() throws Exception {
    for (Map.Entry<String, ModelRuntime> e : runtimes.entrySet()) {
      setCurrentKey(e.getKey());
      ModelRuntime rt = e.getValue();
      release(rt, Long.MAX_VALUE);
      trainBuffered(rt, true);
      publish(rt, getProcessingTimeService().getCurrentProcessingTime());
    }
  }

  @Override
  public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
    super.prepareSnapshotPreBarrier(checkpointId);
    for (Map.Entry<String, ModelRuntime> e : runtimes.entrySet()) {
      setCurrentKey(e.getKey());
      e.getValue().flush(state);
    }
  }

  /** Scores examples with the current parameters of {@code modelId} (tests, scoring parity). */
  public double[][] score(String modelId, List<EncodedExample> rows) throws Exception {
    setCurrentKey(modelId);
    return runtime(modelId).predict(Batch.of(rows), state);
  }

  /** The in-memory runtime of a model, or null (tests). */
  ModelRuntime runtimeOf(String modelId) {
    return runtimes.get(modelId);
  }

  /** Total examples trained by this operator instance. */
  public long examplesTrained() {
    return trained.getCount();
  }
}
