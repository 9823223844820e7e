package org.mmoestream.score;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.mmoestream.event.Event;
import org.mmoestream.feature.EncodedExample;
import org.mmoestream.model.Batch;
import org.mmoestream.model.MmoeModel;
import org.mmoestream.model.ModelSpec;
import org.mmoestream.model.Variant;
import org.mmoestream.model.codec.SnapshotState;
import org.mmoestream.model.codec.Snapshots;
import org.mmoestream.publish.ModelChunk;
import org.mmoestream.testing.TestSpecs;
import org.mmoestream.train.ExampleEncoder;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The scoring function's broadcast state across a restore: it holds the last full snapshot and the
 * deltas after it (not a re-serialized model per version), and a restored instance scores with
 * the latest version, exactly as a model rebuilt from full + deltas does.
 */
class ScoringFunctionTest {
  private static final ModelSpec SPEC = TestSpecs.ctrCvr(Variant.MMOE, true, List.of());
  private static final String REQUEST = "{\"user\":\"u3\",\"item\":\"i2\",\"tags\":[\"t1\"],\"price\":7,\"age\":33}";

  private static KeyedBroadcastOperatorTestHarness<String, Event, ModelChunk, ScoreRecord> harness() throws Exception {
    ScoringFunction fn = new ScoringFunction(1, 20, 0, 100, 60_000, "score-requests");
    return new KeyedBroadcastOperatorTestHarness<>(new CoBroadcastWithKeyedOperator<>(fn, List.of(ScoringFunction.MODELS)),
        e -> e.model, Types.STRING, 128, 1, 0);
  }

  @Test
  void restoredInstanceScoresWithFullSnapshotPlusDeltas() throws Exception {
    MmoeModel m = MmoeModel.create(SPEC, 5, DataType.FLOAT);
    ExampleEncoder enc = new ExampleEncoder(SPEC);
    List<byte[]> published = new ArrayList<>();
    List<String> kinds = new ArrayList<>();
    for (int v = 1; v <= 4; v++) {
      List<EncodedExample> rows = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        rows.add(enc.encode("{\"user\":\"u" + (i + v) + "\",\"item\":\"i" + i % 5 + "\",\"tags\":[\"t" + i % 3 + "\"],\"price\":" + i
            + ",\"age\":" + (20 + i) + "}", i % 2, i % 4 == 0 ? 1 : 0));
      }
      m.trainStep(Batch.of(rows));
      String kind = v <= 2 ? Snapshots.FULL : Snapshots.DELTA;
      var meta = new Snapshots.Meta("m1", v, kind, kind.equals(Snapshots.FULL) ? 0 : v - 1, v * 16L, 1_700_000_000_000L + v, "{}");
      int[][] touched = new int[SPEC.features().sparse().size()][];
      for (int f = 0; f < touched.length; f++) {
        touched[f] = java.util.stream.IntStream.range(0, SPEC.features().sparse().get(f).buckets()).toArray();
      }
      published.add(kind.equals(Snapshots.FULL) ? Snapshots.full(m, meta, Snapshots.tablesOf(m))
          : Snapshots.delta(m, meta, touched, Snapshots.tablesOf(m)));
      kinds.add(kind);
    }
    OperatorSubtaskState snapshot;
    try (var h = harness()) {
      h.open();
      for (int v = 1; v <= 4; v++) {
        for (ModelChunk c : ModelChunk.split("m1", v, kinds.get(v - 1), published.get(v - 1), 1_000)) {
          h.processBroadcastElement(c, 0);
        }
      }
      // The last full snapshot (version 2) as published and the two deltas after it.
      TreeSet<String> keys = new TreeSet<>();
      for (Map.Entry<String, byte[]> e : h.getBroadcastState(ScoringFunction.MODELS).entries()) {
        keys.add(e.getKey().replace('\0', '#'));
      }
      assertEquals(new TreeSet<>(List.of("m1", "m1#0000000000000000003", "m1#0000000000000000004")), keys);
      snapshot = h.snapshot(1, 1);
    }
    SnapshotState expected = new SnapshotState();
    for (int v = 2; v <= 4; v++) {
      expected.apply(published.get(v - 1));
    }
    double[][] p = expected.model().predict(Batch.of(List.of(enc.encodeFeatures(REQUEST, null))));
    try (var h = harness()) {
      h.initializeState(snapshot);
      h.open();
      h.processElement(Event.impression("r1", 1_700_000_000_000L, "m1", REQUEST), 0);
      List<ScoreRecord> out = h.extractOutputValues();
      assertEquals(1, out.size());
      assertEquals(4, out.get(0).modelVersion);
      assertEquals(p[0][0], out.get(0).ctr, 1e-9);
      assertEquals(p[2][0], out.get(0).ctcvr, 1e-9);
    }
  }
}
