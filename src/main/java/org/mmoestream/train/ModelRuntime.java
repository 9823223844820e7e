package org.mmoestream.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.feature.SparseFeature;
import org.mmoestream.model.Batch;
import org.mmoestream.model.Embeddings;
import org.mmoestream.model.GateStatistics;
import org.mmoestream.model.Heads;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.NdAccess;
import org.mmoestream.model.SlidingMetrics;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.publish.ModelChunk;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One model's working set inside {@link TrainOperator}: a model whose embedding tables are
 * compact slot arrays, the cache of rows (value and optimizer state) it has touched, the examples
 * waiting for a batch, the version bookkeeping and the progressive metrics. All calls happen with
 * the operator's current key set to this model, so keyed state reads and writes are this model's.
 */
final class ModelRuntime {
  /** The keyed state of a model (see {@link TrainOperator}). */
  record StateAccess(ValueState<float[]> dense, ValueState<float[]> denseOptimizer,
      ValueState<double[]> denseStats, ValueState<long[]> counters, MapState<Long, float[]> rows,
      ListState<LabeledExample> buffer, ListState<LabeledExample> held) {}

  /** Event-time training order: impression time, then request id. */
  static final java.util.Comparator<LabeledExample> EVENT_TIME_ORDER =
      java.util.Comparator.<LabeledExample>comparingLong(e -> e.impressionTs)
          .thenComparing(e -> e.requestId, java.util.Comparator.nullsFirst(java.util.Comparator.naturalOrder()));

  final String key;
  private final ModelSpec spec;
  private final TrainOperator.Settings settings;
  private MmoeModel model;
  private int[] capacity;
  private final Map<Long, float[]> cache = new HashMap<>();
  private final Set<Long> dirty = new HashSet<>();
  private final Set<Long> touched = new LinkedHashSet<>();
  private final SlidingMetrics[] metrics;
  private GateStatistics gates;
  /** Milliseconds from label (join emission) to the version that first includes the example. */
  private final org.HdrHistogram.Histogram freshness = new org.HdrHistogram.Histogram(3_600_000L, 2);
  private final List<Long> labeledAt = new ArrayList<>();
  final List<LabeledExample> buffer = new ArrayList<>();
  /** Examples held for event-time order, earliest first. */
  final java.util.PriorityQueue<LabeledExample> held = new java.util.PriorityQueue<>(EVENT_TIME_ORDER);
  /** Event time of the earliest release timer registered since the last release (in memory only). */
  long heldTimer = Long.MAX_VALUE;
  long bufferSince;
  long nextPublish;
  boolean publishTimerSet;
  long version;
  private int versionsSinceFull;
  private boolean needFull = true;
  private long trainedSinceVersion;
  private boolean lastPublished;

  private ModelRuntime(String key, ModelSpec spec, TrainOperator.Settings settings) {
    this.key = key;
    this.spec = spec;
    this.settings = settings;
    int features = spec.features().sparse().size();
    capacity = new int[features];
    java.util.Arrays.fill(capacity, Math.max(16, settings.batchSize() * 2));
    model = MmoeModel.createCompact(spec, settings.seed(), DataType.FLOAT, capacity);
    gates = new GateStatistics(spec.tasks().size(), model.network().experts());
    metrics = new SlidingMetrics[spec.heads().size()];
    for (int h = 0; h < metrics.length; h++) {
      metrics[h] = new SlidingMetrics(settings.metricsWindow());
    }
  }

  /** The runtime of {@code key}, restored from its state when there is any. */
  static ModelRuntime load(String key, ModelSpec spec, TrainOperator.Settings settings, StateAccess st)
      throws Exception {
    ModelRuntime rt = new ModelRuntime(key, spec, settings);
    float[] dense = st.dense().value();
    if (dense != null) {
      write(rt.model.network().paramAccess(), dense, 0, dense.length);
      float[] opt = st.denseOptimizer().value();
      List<INDArray> slots = rt.model.denseOptimizerState();
      for (int s = 0; s < slots.size(); s++) {
        write(NdAccess.of(slots.get(s)), opt, s * dense.length, dense.length);
      }
      double[] stats = st.denseStats().value();
      for (int i = 0; i < stats.length / 3; i++) {
        rt.model.normalizer().set(i, stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]);
      }
      long[] c = st.counters().value();
      rt.model.restoreCounters(c[0], c[1], c[2]);
      rt.version = c[3];
      rt.versionsSinceFull = (int) c[4];
      for (LabeledExample e : st.buffer().get()) {
        rt.buffer.add(e);
      }
      for (LabeledExample e : st.held().get()) {
        rt.held.add(e);
      }
    }
    return rt;
  }

  private static void write(NdAccess a, float[] src, int from, int n) {
    double[] tmp = new double[n];
    for (int i = 0; i < n; i++) {
      tmp[i] = src[from + i];
    }
    a.write(0, tmp, 0, n);
  }

  private static float[] read(NdAccess a) {
    double[] tmp = new double[a.length()];
    a.read(0, tmp, 0, tmp.length);
    float[] out = new float[tmp.length];
    for (int i = 0; i < tmp.length; i++) {
      out[i] = (float) tmp[i];
    }
    return out;
  }

  private static long rowKey(int f, int id) {
    return ((long) f << 32) | (id & 0xffffffffL);
  }

  /** The row (value and optimizer state) of id {@code id} of table {@code f}. */
  private float[] row(int f, int id, StateAccess st) throws Exception {
    long k = rowKey(f, id);
    float[] r = cache.get(k);
    if (r == null) {
      r = st.rows().get(k);
      if (r == null) {
        r = initialRow(f, id);
      }
      cache.put(k, r);
    }
    return r;
  }

  private float[] initialRow(int f, int id) {
    int dim = spec.features().sparse().get(f).dim();
    int slots = model.embeddings().stateSlots();
    double[] v = new double[dim];
    Embeddings.initialRow(settings.seed(), f, id, v);
    float[] r = new float[dim * (1 + slots)];
    for (int k = 0; k < dim; k++) {
      r[k] = (float) v[k];
    }
    for (int s = 0; s < slots; s++) {
      java.util.Arrays.fill(r, (s + 1) * dim, (s + 2) * dim, (float) spec.optimizer().initialState(s));
    }
    return r;
  }

  /** Maps the batch's ids to slots of the compact tables and loads those rows into the slots. */
  private Batch load(Batch b, StateAccess st, int[][] slotIds) throws Exception {
    int features = spec.features().sparse().size();
    int[][] mapped = new int[features][];
    for (int f = 0; f < features; f++) {
      final int feature = f;
      int[] ids = b.ids(f);
      Map<Integer, Integer> slot = new HashMap<>();
      mapped[f] = new int[ids.length];
      for (int i = 0; i < ids.length; i++) {
        Integer s = slot.get(ids[i]);
        if (s == null) {
          s = slot.size();
          slot.put(ids[i], s);
        }
        mapped[f][i] = s;
      }
      ensureCapacity(f, slot.size());
      slotIds[f] = new int[slot.size()];
      slot.forEach((id, s) -> slotIds[feature][s] = id);
    }
    for (int f = 0; f < features; f++) {
      int dim = spec.features().sparse().get(f).dim();
      double[] tmp = new double[dim * (1 + model.embeddings().stateSlots())];
      for (int s = 0; s < slotIds[f].length; s++) {
        float[] r = row(f, slotIds[f][s], st);
        for (int i = 0; i < tmp.length; i++) {
          tmp[i] = r[i];
        }
        model.embeddings().writeRow(f, s, tmp);
      }
    }
    return b.withIds(mapped);
  }

  /** Grows the compact table of feature {@code f} to hold {@code needed} rows. */
  private void ensureCapacity(int f, int needed) {
    if (needed <= capacity[f]) {
      return;
    }
    capacity[f] = Math.max(needed, capacity[f] * 2);
    MmoeModel bigger = MmoeModel.createCompact(spec, settings.seed(), DataType.FLOAT, capacity);
    bigger.network().params().assign(model.network().params());
    List<INDArray> from = model.denseOptimizerState();
    List<INDArray> to = bigger.denseOptimizerState();
    for (int s = 0; s < from.size(); s++) {
      to.get(s).assign(from.get(s));
    }
    for (int i = 0; i < spec.features().dense().size(); i++) {
      bigger.normalizer().set(i, model.normalizer().count(i), model.normalizer().mean(i), model.normalizer().variance(i));
    }
    bigger.restoreCounters(model.step(), model.examplesSeen(), model.skippedBatches());
    model = bigger;
  }

  /** One training step on {@code b}; the progressive metrics see its predictions first. */
  /** Remembers when the labels of the next batch's examples became final. */
  void noteLabeled(List<LabeledExample> examples) {
    for (LabeledExample e : examples) {
      if (e.labeledAt > 0) {
        labeledAt.add(e.labeledAt);
      }
    }
  }

  void train(Batch b, StateAccess st) throws Exception {
    int[][] slotIds = new int[spec.features().sparse().size()][];
    Batch compact = load(b, st, slotIds);
    MmoeModel.StepResult r = model.trainStep(compact);
    Heads.visit(spec, b, r.predictions(), (h, p, y) -> metrics[h].add(p, y));
    gates.add(model.network(), model.network().buffers(b.rows()));
    for (int f = 0; f < slotIds.length; f++) {
      int dim = spec.features().sparse().get(f).dim();
      double[] tmp = new double[dim * (1 + model.embeddings().stateSlots())];
      for (int s = 0; s < slotIds[f].length; s++) {
        model.embeddings().readRow(f, s, tmp);
        long k = rowKey(f, slotIds[f][s]);
        float[] dst = cache.get(k);
        for (int i = 0; i < tmp.length; i++) {
          dst[i] = (float) tmp[i];
        }
        dirty.add(k);
        touched.add(k);
      }
    }
    trainedSinceVersion += b.rows();
    if (cache.size() > settings.workingSetRows()) {
      flushRows(st);
      cache.clear();
    }
  }

  /** Predictions of the current parameters, without training. */
  double[][] predict(Batch b, StateAccess st) throws Exception {
    int[][] slotIds = new int[spec.features().sparse().size()][];
    // load() may grow the compact tables and replace the model: load first, then read the field.
    Batch compact = load(b, st, slotIds);
    return model.predict(compact);
  }

  private void flushRows(StateAccess st) throws Exception {
    for (long k : dirty) {
      st.rows().put(k, cache.get(k));
    }
    dirty.clear();
  }

  /** Writes the whole model and the waiting examples to state (before a checkpoint barrier). */
  void flush(StateAccess st) throws Exception {
    float[] dense = read(model.network().paramAccess());
    st.dense().update(dense);
    List<INDArray> slots = model.denseOptimizerState();
    float[] opt = new float[dense.length * slots.size()];
    for (int s = 0; s < slots.size(); s++) {
      System.arraycopy(read(NdAccess.of(slots.get(s))), 0, opt, s * dense.length, dense.length);
    }
    st.denseOptimizer().update(opt);
    int nd = spec.features().dense().size();
    double[] stats = new double[3 * nd];
    for (int i = 0; i < nd; i++) {
      stats[3 * i] = model.normalizer().count(i);
      stats[3 * i + 1] = model.normalizer().mean(i);
      stats[3 * i + 2] = model.normalizer().variance(i);
    }
    st.denseStats().update(stats);
    st.counters().update(new long[] {model.step(), model.examplesSeen(), model.skippedBatches(), version, versionsSinceFull});
    flushRows(st);
    st.buffer().update(new ArrayList<>(buffer));
    st.held().update(new ArrayList<>(held));
  }

  /** The next version's chunks, or none when nothing was trained since the last version. */
  List<ModelChunk> publish(long now, StateAccess st, List<org.mmoestream.feature.EncodedExample> probes)
      throws Exception {
    lastPublished = false;
    if (!needFull && trainedSinceVersion == 0) {
      return List.of();
    }
    boolean full = needFull || versionsSinceFull + 1 >= settings.fullEvery();
    long v = version + 1;
    String kind = full ? Snapshots.FULL : Snapshots.DELTA;
    freshness.reset();
    for (long t : labeledAt) {
      freshness.recordValue(Math.max(0, Math.min(3_600_000L, now - t)));
    }
    labeledAt.clear();
    String metrics = metricsJson();
    if (!probes.isEmpty()) {
      // The scores of the probe requests under exactly this version, for serving parity checks.
      double[][] p = predict(Batch.of(probes), st);
      StringBuilder sb = new StringBuilder(metrics.substring(0, metrics.length() - 1)).append(",\"probe_scores\":[");
      for (int r = 0; r < probes.size(); r++) {
        sb.append(r == 0 ? "[" : ",[");
        for (int h = 0; h < p.length; h++) {
          sb.append(h == 0 ? "" : ",").append(Double.toString(p[h][r]));
        }
        sb.append(']');
      }
      metrics = sb.append("]}").toString();
    }
    Snapshots.Meta meta = new Snapshots.Meta(key, v, kind, version, model.examplesSeen(), now, metrics);
    byte[] bytes = full ? Snapshots.full(model, meta, fullRows(st)) : Snapshots.delta(model, meta, touchedIds(), (f, id, dst) -> {
      try {
        float[] r = row(f, id, st);
        for (int k = 0; k < dst.length; k++) {
          dst[k] = r[k];
        }
      } catch (Exception e) {
        throw new IllegalStateException("cannot read row " + id + " of table " + f, e);
      }
    });
    version = v;
    versionsSinceFull = full ? 0 : versionsSinceFull + 1;
    needFull = false;
    trainedSinceVersion = 0;
    touched.clear();
    gates = new GateStatistics(spec.tasks().size(), model.network().experts());
    lastPublished = true;
    return ModelChunk.split(key, v, kind, bytes, settings.maxMessageBytes());
  }

  boolean lastPublished() {
    return lastPublished;
  }

  private int[][] touchedIds() {
    int features = spec.features().sparse().size();
    List<List<Integer>> ids = new ArrayList<>();
    for (int f = 0; f < features; f++) {
      ids.add(new ArrayList<>());
    }
    for (long k : touched) {
      ids.get((int) (k >>> 32)).add((int) k);
    }
    int[][] out = new int[features][];
    for (int f = 0; f < features; f++) {
      out[f] = ids.get(f).stream().mapToInt(Integer::intValue).sorted().toArray();
    }
    return out;
  }

  /** Every row of every table: initial values, overlaid by state, overlaid by the cache. */
  private Snapshots.RowSource fullRows(StateAccess st) throws Exception {
    List<SparseFeature> sparse = spec.features().sparse();
    float[][] tables = new float[sparse.size()][];
    for (int f = 0; f < tables.length; f++) {
      int dim = sparse.get(f).dim();
      tables[f] = new float[sparse.get(f).buckets() * dim];
      double[] v = new double[dim];
      for (int id = 0; id < sparse.get(f).buckets(); id++) {
        Embeddings.initialRow(settings.seed(), f, id, v);
        for (int k = 0; k < dim; k++) {
          tables[f][id * dim + k] = (float) v[k];
        }
      }
    }
    for (Map.Entry<Long, float[]> e : st.rows().entries()) {
      overlay(tables, e.getKey(), e.getValue());
    }
    for (Map.Entry<Long, float[]> e : cache.entrySet()) {
      overlay(tables, e.getKey(), e.getValue());
    }
    return (f, id, dst) -> {
      for (int k = 0; k < dst.length; k++) {
        dst[k] = tables[f][id * dst.length + k];
      }
    };
  }

  private void overlay(float[][] tables, long k, float[] row) {
    int f = (int) (k >>> 32);
    int id = (int) k;
    int dim = spec.features().sparse().get(f).dim();
    System.arraycopy(row, 0, tables[f], id * dim, dim);
  }

  private String metricsJson() {
    StringBuilder sb = new StringBuilder("{");
    List<String> heads = spec.heads();
    for (int h = 0; h < heads.size(); h++) {
      sb.append(h == 0 ? "" : ",").append('"').append(heads.get(h)).append("\":").append(metrics[h].json());
    }
    // Label-to-version latency of the examples new in this version (HdrHistogram, base64).
    java.nio.ByteBuffer hist = java.nio.ByteBuffer.allocate(freshness.getNeededByteBufferCapacity());
    int len = freshness.encodeIntoCompressedByteBuffer(hist);
    sb.append(",\"freshness_ms\":{\"p50\":").append(freshness.getValueAtPercentile(50))
        .append(",\"p99\":").append(freshness.getValueAtPercentile(99))
        .append(",\"n\":").append(freshness.getTotalCount())
        .append(",\"histogram\":\"").append(java.util.Base64.getEncoder().encodeToString(java.util.Arrays.copyOf(hist.array(), len)))
        .append("\"}");
    // Mean gate weight of each expert per task over the examples since the last version.
    sb.append(",\"gates\":{");
    for (int t = 0; t < spec.tasks().size(); t++) {
      sb.append(t == 0 ? "" : ",").append('"').append(spec.tasks().get(t).name()).append("\":[");
      for (int e = 0; e < gates.experts(); e++) {
        double w = gates.meanWeight(t, e);
        sb.append(e == 0 ? "" : ",").append(Double.isFinite(w) ? String.format(Locale.ROOT, "%.4f", w) : "null");
      }
      sb.append(']');
    }
    return sb.append("}}").toString();
  }

  /** Progressive metrics of head {@code h}. */
  SlidingMetrics metrics(int h) {
    return metrics[h];
  }

  MmoeModel model() {
    return model;
  }

  void registerMetrics(MetricGroup g) {
    List<String> heads = spec.heads();
    for (int h = 0; h < heads.size(); h++) {
      SlidingMetrics m = metrics[h];
      g.gauge(heads.get(h) + "_auc", (Gauge<Double>) m::auc);
      g.gauge(heads.get(h) + "_logloss", (Gauge<Double>) m::logLoss);
      g.gauge(heads.get(h) + "_calibration", (Gauge<Double>) m::calibration);
    }
    g.gauge("version", (Gauge<Long>) () -> version);
    g.gauge("examples_seen", (Gauge<Long>) () -> model.examplesSeen());
    g.gauge("working_set_rows", (Gauge<Integer>) cache::size);
    g.gauge("examples_held", (Gauge<Integer>) held::size);
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "%s(v%d, %d examples)", key, version, model.examplesSeen());
  }
}
